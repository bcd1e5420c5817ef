//! Every metric the service exports, with its attributes. Attributes are low-cardinality by
//! construction: a method of the proto, a gRPC code, an agency id (`esdc-edsc`), an enum
//! value's name; never a citizen, a request, a person's name or free text. Each recorder is a
//! no-op unless metrics are exported ([`super::enabled`]).
//!
//! | Metric | Kind | Attributes |
//! |---|---|---|
//! | `rpc.server.duration` (ms) | histogram | `rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code` |
//! | `single_window.calls.shed` | counter | (none: unary calls shed at the process-wide limit) |
//! | `single_window.quota.refused` | counter | `principal.kind`, `quota.subject` (a principal's name or `anonymous`) |
//! | `single_window.requests.opened` | counter | `channel`, `agency` (entry agency or `none`) |
//! | `single_window.handoffs.steps` | counter | `agency` (receiving), `state` (after the step) |
//! | `single_window.handoffs.outcomes` | counter | `agency`, `outcome` (completed legs) |
//! | `single_window.handoffs.declines` | counter | `from_agency`, `to_agency`, `reason` |
//! | `single_window.handoffs.open` | gauge | `agency`, `clock` (`on_track`, `at_risk`, `breached`) |
//! | `single_window.satisfaction.responses` | counter | `survey_channel` |
//! | `single_window.streams.subscribers` | up-down counter | `stream` |
//! | `single_window.store.group_commit.batch_size` | histogram | (none) |

use std::sync::LazyLock;

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Gauge, Histogram, UpDownCounter},
};

use super::enabled;

struct Instruments {
    rpc_duration: Histogram<f64>,
    calls_shed: Counter<u64>,
    quota_refused: Counter<u64>,
    requests_opened: Counter<u64>,
    handoff_steps: Counter<u64>,
    handoff_outcomes: Counter<u64>,
    handoff_declines: Counter<u64>,
    handoffs_open: Gauge<u64>,
    satisfaction_responses: Counter<u64>,
    stream_subscribers: UpDownCounter<i64>,
    batch_size: Histogram<u64>,
}

/// Built on first use, from the meter provider installed by [`super::init`] (which runs before
/// any call can record).
static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let meter = opentelemetry::global::meter("single-window");
    Instruments {
        rpc_duration: meter
            .f64_histogram("rpc.server.duration")
            .with_unit("ms")
            .with_description("Duration of each gRPC call, to the end of its response")
            .with_boundaries(vec![
                0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
                10000.0, 30000.0,
            ])
            .build(),
        calls_shed: meter
            .u64_counter("single_window.calls.shed")
            .with_description(
                "Unary calls shed with OVERLOADED at the process-wide concurrency limit",
            )
            .build(),
        quota_refused: meter
            .u64_counter("single_window.quota.refused")
            .with_description("Calls refused because the caller's quota was used up")
            .build(),
        requests_opened: meter
            .u64_counter("single_window.requests.opened")
            .with_description("Requests opened (retries of one with its request_id count once)")
            .build(),
        handoff_steps: meter
            .u64_counter("single_window.handoffs.steps")
            .with_description("Steps taken on handoffs, by the state they left the leg in")
            .build(),
        handoff_outcomes: meter
            .u64_counter("single_window.handoffs.outcomes")
            .with_description("Handoffs completed, by outcome")
            .build(),
        handoff_declines: meter
            .u64_counter("single_window.handoffs.declines")
            .with_description("Handoffs declined (wrong doors), by agency pair and reason")
            .build(),
        handoffs_open: meter
            .u64_gauge("single_window.handoffs.open")
            .with_description(
                "Open handoffs per receiving agency and clock status, at the last warnings run",
            )
            .build(),
        satisfaction_responses: meter
            .u64_counter("single_window.satisfaction.responses")
            .with_description("Satisfaction responses recorded")
            .build(),
        stream_subscribers: meter
            .i64_up_down_counter("single_window.streams.subscribers")
            .with_description("Subscribers of the server streams on this replica")
            .build(),
        batch_size: meter
            .u64_histogram("single_window.store.group_commit.batch_size")
            .with_description("Units of work committed together by SQLite's single writer")
            .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
            .build(),
    }
});

fn kv(key: &'static str, value: impl Into<opentelemetry::Value>) -> KeyValue {
    KeyValue::new(key, value)
}

/// An agency attribute: the agency's id (`esdc-edsc`), from its id or its name (`agencies/...`).
fn agency(key: &'static str, agency: &str) -> KeyValue {
    let id = agency.strip_prefix("agencies/").unwrap_or(agency);
    KeyValue::new(key, id.to_owned())
}

/// One gRPC call of `path` (`/package.Service/Method`, a method the server declares) ended with
/// `code` after `millis`.
pub fn rpc_ended(path: &str, code: i32, millis: f64) {
    if !enabled() {
        return;
    }
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", path));
    INSTRUMENTS.rpc_duration.record(
        millis,
        &[
            kv("rpc.system", "grpc"),
            kv("rpc.service", service.to_owned()),
            kv("rpc.method", method.to_owned()),
            kv("rpc.grpc.status_code", i64::from(code)),
        ],
    );
}

/// A unary call was shed at the process-wide concurrency limit.
pub fn shed() {
    if enabled() {
        INSTRUMENTS.calls_shed.add(1, &[]);
    }
}

/// A call of a principal of `kind` was refused by the quota of `subject` (a principal's name,
/// or `anonymous`).
pub fn quota_refused(kind: &'static str, subject: &str) {
    if enabled() {
        INSTRUMENTS.quota_refused.add(
            1,
            &[
                kv("principal.kind", kind),
                kv("quota.subject", subject.to_owned()),
            ],
        );
    }
}

/// A request was opened through `channel`, at `agency` (`None`: by a portal for its citizen).
pub fn request_opened(channel: &'static str, entry: Option<&str>) {
    if enabled() {
        INSTRUMENTS.requests_opened.add(
            1,
            &[
                kv("channel", channel),
                agency("agency", entry.unwrap_or("none")),
            ],
        );
    }
}

/// A step left a handoff to `agency` in `state`.
pub fn handoff_step(to: &str, state: &'static str) {
    if enabled() {
        INSTRUMENTS
            .handoff_steps
            .add(1, &[agency("agency", to), kv("state", state)]);
    }
}

/// A handoff to `agency` was completed with `outcome`.
pub fn handoff_completed(agency: &str, outcome: &'static str) {
    if enabled() {
        INSTRUMENTS.handoff_outcomes.add(
            1,
            &[kv("agency", agency.to_owned()), kv("outcome", outcome)],
        );
    }
}

/// `to` declined a handoff from `from` for `reason`.
pub fn handoff_declined(from: &str, to: &str, reason: &'static str) {
    if enabled() {
        INSTRUMENTS.handoff_declines.add(
            1,
            &[
                agency("from_agency", from),
                agency("to_agency", to),
                kv("reason", reason),
            ],
        );
    }
}

/// `agency` holds `on_track`, `at_risk` and `breached` open handoffs.
pub fn open_handoffs(id: &str, on_track: u64, at_risk: u64, breached: u64) {
    if enabled() {
        for (clock, count) in [
            ("on_track", on_track),
            ("at_risk", at_risk),
            ("breached", breached),
        ] {
            INSTRUMENTS
                .handoffs_open
                .record(count, &[agency("agency", id), kv("clock", clock)]);
        }
    }
}

/// A satisfaction response arrived through `survey_channel`.
pub fn satisfaction_recorded(survey_channel: &'static str) {
    if enabled() {
        INSTRUMENTS
            .satisfaction_responses
            .add(1, &[kv("survey_channel", survey_channel)]);
    }
}

/// A subscriber of `stream` joined (`+1`) or left (`-1`).
pub fn stream_subscribers(stream: &'static str, change: i64) {
    if enabled() {
        INSTRUMENTS
            .stream_subscribers
            .add(change, &[kv("stream", stream)]);
    }
}

/// SQLite's writer committed `units` units of work in one transaction.
pub fn group_commit(units: usize) {
    if enabled() {
        INSTRUMENTS
            .batch_size
            .record(u64::try_from(units).unwrap_or(u64::MAX), &[]);
    }
}
