//! Command line and environment configuration.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{auth::jwt::parse_algorithm, grpc::page_token::TokenKey, store::PoolSettings};

/// single-window: a no-wrong-door gRPC service through which government agencies share a catalogue
/// of services, service standards and life events, and citizen records read only under the
/// citizen's consent, with every access in a log the citizen can verify; it routes a need in the
/// citizen's own words to the right services and agencies, with the reasons, hands requests on
/// between agencies with a clock per leg, shares common forms, and records satisfaction with every
/// handoff.
///
/// Without a subcommand it serves (`serve`): gRPC, gRPC-Web, and on the same port the portal for
/// citizens, the agency desk and the public dashboard (open `http://127.0.0.1:50051/`). The default database is a SQLite file in the working
/// directory, created, migrated and loaded with the built-in Government of Canada catalogue on
/// first start; its keys are kept beside it (`<database>.keys.json`).
#[derive(Debug, Parser)]
#[command(
    name = "single-window",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Log format: `auto` is human-readable (coloured on a terminal), `json` one JSON object a line.
    #[arg(long, env = "SINGLE_WINDOW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

/// How logs are written (to standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable; coloured when standard error is a terminal.
    Auto,
    /// One JSON object per line.
    Json,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve gRPC, gRPC-Web and the portal on one port (the default).
    Serve(Box<ServeArgs>),
    /// Apply database migrations, then exit. Needed before `serve` on PostgreSQL; SQLite migrates
    /// itself.
    Migrate(DatabaseArgs),
    /// Catalogue administration.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Evaluations.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// The demo principals of the embedded default.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Principals administration.
    #[command(subcommand)]
    Principals(PrincipalsCommand),
    /// The access log: export it, verify an export offline, print its verifier key.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The key file: rotate the sealing key, re-seal identifiers, re-index them.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Satisfaction reports: the public export.
    #[command(subcommand)]
    Report(ReportCommand),
}

/// The reports' commands.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Write the public report of a quarter (what `GetPublicReport` answers) as CSV and JSON in
    /// the shape of the OMB A-11 quarterly customer experience data: per service and channel, the
    /// customers, surveys offered, respondents and each driver's mean score, with small groups
    /// suppressed; and the actions agencies took on their early warnings.
    Export {
        /// The quarter: a calendar quarter (`2026Q3`), or with `--fiscal` a quarter of the GC
        /// fiscal year that starts in April of the year given (`2026Q3` is October to December).
        #[arg(long)]
        quarter: String,
        /// Read `--quarter` as a fiscal quarter (April to March).
        #[arg(long)]
        fiscal: bool,
        /// Only this agency's services (`agencies/...`).
        #[arg(long)]
        agency: Option<String>,
        /// The folder to write `cx-<quarter>.csv` and `cx-<quarter>.json` in.
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
        /// The fewest respondents a row is shown with (as the server is configured).
        #[arg(long, env = "SINGLE_WINDOW_MINIMUM_RESPONDENTS", default_value_t = 10, value_parser = parse_positive_count)]
        minimum_respondents: usize,
        /// The IANA time zone quarters are counted in (as the server is configured).
        #[arg(long, env = "SINGLE_WINDOW_TIME_ZONE", default_value = crate::domain::due::DEFAULT_TIME_ZONE, value_parser = parse_time_zone)]
        time_zone: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// The access log's commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write a citizen's access events (or the whole log) with the signed checkpoint and the
    /// tree's leaf hashes to a file that `audit verify` checks offline. Adds committed events to
    /// the tree and signs a checkpoint first.
    Export {
        /// `citizens/{citizen}`; without it, every event of the log (for auditors).
        #[arg(long)]
        citizen: Option<String>,
        /// Where to write (JSON); standard output when absent.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The access log's name, as the server is configured (`--log-origin`).
        #[arg(
            long,
            env = "SINGLE_WINDOW_LOG_ORIGIN",
            default_value = "single-window.localhost/access-log"
        )]
        log_origin: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Check an export offline: the checkpoint's signature, the tree, every event's leaf, the
    /// numbering of each citizen's events and, with `--kept-checkpoint`, that the log only grew
    /// since a checkpoint kept earlier. Names the first altered, removed, inserted or reordered
    /// event and exits non-zero.
    Verify {
        /// The export file.
        file: PathBuf,
        /// The log's verifier key (`name+id+key`), as published out of band; without it, the one
        /// in the file (which proves only that the file is consistent with itself).
        #[arg(long)]
        verifier_key: Option<String>,
        /// A checkpoint (signed note) kept from earlier: the log must extend it.
        #[arg(long, value_name = "FILE")]
        kept_checkpoint: Option<PathBuf>,
    },
    /// Print the access log's verifier key, to publish out of band.
    PublicKey {
        /// The access log's name (`--log-origin`).
        #[arg(
            long,
            env = "SINGLE_WINDOW_LOG_ORIGIN",
            default_value = "single-window.localhost/access-log"
        )]
        log_origin: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// The key file's commands (see the README's key rotation section).
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new random sealing key to the key file and make it the one that seals; the old
    /// keys stay, so existing values still open. Then run `keys reseal`.
    Rotate {
        /// The new key's id (`2027-01`).
        id: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Re-seal every citizen identifier sealed with an older key with the current one. Keep the
    /// old keys in the key file: form answers, survey comments and kept retry answers are not
    /// re-sealed and still need them.
    Reseal {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Replace the blind-index key with a new random one and re-index every identifier, in one
    /// transaction (the new key is written to the key file after the commit).
    Reindex {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// The demo principals.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Fill the database with realistic simulated activity over the real catalogue: citizens,
    /// requests opened at portals and at agencies' counters (wrong doors included), legs accepted,
    /// declined and completed against their standards' clocks, survey responses, and the early
    /// warnings agencies acknowledged, spread over past quarters. It runs the service in-process
    /// on loopback with a moving clock and writes through its RPCs. The same seed gives the same
    /// activity.
    Simulate {
        /// The random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Citizens to create.
        #[arg(long, default_value_t = 300, value_parser = parse_positive_count)]
        citizens: usize,
        /// Requests to open.
        #[arg(long, default_value_t = 1200, value_parser = parse_positive_count)]
        requests: usize,
        /// Quarters to spread them over, the current one last.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=12))]
        quarters: u32,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Print the demo principals and their keys (accepted only by a server on a loopback address
    /// without a principals file).
    Credentials {
        /// `text` (a table) or `json` (an array of `{"principal", "kind", "token"}`; the portal's
        /// entries also carry `citizen` and `citizen_token`).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// The database the server uses: its key file holds the demo identity provider's key.
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Output formats of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Text,
    /// JSON for scripts.
    Json,
}

/// Principals administration.
#[derive(Debug, Subcommand)]
pub enum PrincipalsCommand {
    /// Make a new random API key for a principal and print it with the principals-file entry
    /// that holds its hash (the key itself is shown once and stored nowhere).
    NewKey {
        /// `agencies/{agency}[/teams/{team}]`, `portals/{portal}`, `administrators/{id}` or
        /// `auditors/{id}`.
        name: String,
        /// The officer acting, for an agency key used by one officer's desk.
        #[arg(long)]
        officer: Option<String>,
    },
}

/// Catalogue administration.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Import a catalogue into the database in one transaction. Idempotent: importing the same
    /// files again changes nothing. Services missing from the files are retired, never deleted.
    /// Running servers pick up the new catalogue within their poll interval.
    Import(ImportArgs),
    /// Compute the service vectors of the semantic routing signal with the built-in sentence
    /// encoder, from the catalogue (the built-in one, or the files given as to `catalog import`)
    /// and the routing knowledge this binary was built with, encoding only texts the file lacks.
    /// The default output is where the build takes them from (`data/routing/vectors.bin`): rebuild
    /// after writing it. For another catalogue, write elsewhere and serve with `--routing-vectors`.
    /// `--check` only says whether the file is current.
    Vectors(VectorsArgs),
}

/// Settings of `catalog vectors`.
#[derive(Debug, Clone, Args)]
pub struct VectorsArgs {
    #[command(flatten)]
    pub files: CatalogFiles,

    /// Where to write the vectors.
    #[arg(long, value_name = "FILE", default_value = "data/routing/vectors.bin")]
    pub output: PathBuf,

    /// Write nothing; exit non-zero unless `--output` holds a vector for every text of the
    /// built-in data, made by this encoder, and nothing else.
    #[arg(long)]
    pub check: bool,
}

/// Evaluations.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Score routing against a labelled JSON-lines file (`{"id", "need", "accept_service_ids",
    /// "accept_orgs"}` per line) with RouteNeed (no context), and print
    /// `n=.. top1_agency=.. top3_service=.. mrr5=..`, then the same for the French items alone.
    Routing(EvalRoutingArgs),
}

/// The database to use.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (embedded file, created if missing) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://single-window.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Maximum database connections.
    #[arg(
        long,
        env = "SINGLE_WINDOW_DATABASE_MAX_CONNECTIONS",
        default_value_t = 8
    )]
    pub database_max_connections: u32,

    /// How long a database operation waits for a free connection before failing (`500ms`, `5s`,
    /// `1m`). Catalogue calls never wait on it: they are answered from memory.
    #[arg(long, env = "SINGLE_WINDOW_DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub database_acquire_timeout: Duration,

    /// Key file (JSON, owner-only) with the keys that seal identifiers, index them and sign the
    /// access log (see the README). Default for SQLite: `<database file>.keys.json`, created with
    /// new random keys when missing. Required for PostgreSQL (every replica needs the same keys).
    #[arg(long, env = "SINGLE_WINDOW_KEYS_FILE", value_name = "FILE")]
    pub keys_file: Option<PathBuf>,
}

impl DatabaseArgs {
    /// Where the key file is: `--keys-file`, or for SQLite `<database file>.keys.json`.
    pub fn keys_path(&self) -> anyhow::Result<PathBuf> {
        use anyhow::Context as _;
        if let Some(path) = &self.keys_file {
            return Ok(path.clone());
        }
        let path = sqlite_path(&self.database_url).context(
            "PostgreSQL needs --keys-file (SINGLE_WINDOW_KEYS_FILE): every replica must use the same keys",
        )?;
        Ok(PathBuf::from(format!("{}.keys.json", path.display())))
    }

    /// The service's secrets: from `--keys-file` (which must exist), or for SQLite from the file
    /// beside the database (created when missing).
    pub fn secrets(&self) -> anyhow::Result<crate::secrets::Secrets> {
        let path = self.keys_path()?;
        if self.keys_file.is_some() {
            crate::secrets::Secrets::load(&path)
        } else {
            crate::secrets::Secrets::load_or_create(&path)
        }
    }

    /// Pool settings for these arguments.
    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.database_max_connections,
            acquire_timeout: self.database_acquire_timeout,
            ..PoolSettings::default()
        }
    }
}

/// The file of a `sqlite:` URL (without its query), if it is one.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(':')).then(|| PathBuf::from(path))
}

/// Settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    #[arg(long, env = "SINGLE_WINDOW_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Also serve gRPC health (`grpc.health.v1`, nothing else) in plaintext on this address, for
    /// probes that cannot speak the main port's TLS (Kubernetes' gRPC probes); port 0 picks one.
    #[arg(long, env = "SINGLE_WINDOW_HEALTH_LISTEN", value_name = "ADDR")]
    pub health_listen: Option<SocketAddr>,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Browser origins allowed to call through gRPC-Web (comma-separated, for example
    /// `https://portal.example.ca`); `*` allows any origin. Empty allows none.
    #[arg(
        long,
        env = "SINGLE_WINDOW_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,

    /// How many RouteNeed encodings run at once, each on its own blocking thread (others wait
    /// their turn); default: all cores but one, at least one, so routing never takes every core
    /// from lookups.
    #[arg(long, env = "SINGLE_WINDOW_ROUTING_CONCURRENCY", value_parser = clap::value_parser!(u16).range(1..))]
    pub routing_concurrency: Option<u16>,

    /// Service vectors for the semantic routing signal, written by `catalog vectors` for a
    /// catalogue imported from other files; default: the vectors built into the binary, which
    /// cover the built-in catalogue. Services without a vector route on the other signals.
    #[arg(long, value_name = "FILE", env = "SINGLE_WINDOW_ROUTING_VECTORS")]
    pub routing_vectors: Option<PathBuf>,

    /// How often to check the database for a newer catalogue and swap it in.
    #[arg(long, env = "SINGLE_WINDOW_CATALOG_POLL_INTERVAL", default_value = "30s", value_parser = parse_positive_duration)]
    pub catalog_poll_interval: Duration,

    /// On SIGTERM or SIGINT, how long calls in flight may finish before the server closes every
    /// connection and the process exits.
    #[arg(long, env = "SINGLE_WINDOW_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Secret (at least 32 bytes) that signs page tokens. Give every replica the same one; when
    /// unset, each process signs with a random key and its tokens work only against it.
    #[arg(long, env = "SINGLE_WINDOW_PAGE_TOKEN_KEY", value_parser = parse_token_key, hide_env_values = true)]
    pub page_token_key: Option<TokenKey>,

    /// The key used before the current one: page tokens it signed are still accepted (during a
    /// rotation), new tokens are signed with the current key.
    #[arg(long, env = "SINGLE_WINDOW_PAGE_TOKEN_PREVIOUS_KEY", value_parser = parse_token_key, hide_env_values = true)]
    pub page_token_previous_key: Option<TokenKey>,

    /// The principals file: who may call and the SHA-256 of their API keys (format in the
    /// README). Without it, the demo principals are accepted, on a loopback address only.
    #[arg(long, env = "SINGLE_WINDOW_PRINCIPALS_FILE", value_name = "FILE")]
    pub principals_file: Option<PathBuf>,

    /// Server certificate chain (PEM) for TLS; with `--tls-key`. Without them the server speaks
    /// plaintext (keep that to loopback).
    #[arg(
        long,
        env = "SINGLE_WINDOW_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The server certificate's private key (PEM, PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "SINGLE_WINDOW_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// CA certificates (PEM) that sign agencies' client certificates: enables mutual TLS. A
    /// client certificate must chain to one of them and be listed in the principals file; clients
    /// without one may still call with a bearer credential or as the public.
    #[arg(
        long,
        env = "SINGLE_WINDOW_TLS_CLIENT_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,

    /// JWKS file (RFC 7517) of the identity provider whose JWTs are accepted as
    /// `authorization: Bearer <JWT>`; needs `--jwt-issuer`.
    #[arg(
        long,
        env = "SINGLE_WINDOW_JWKS_FILE",
        value_name = "FILE",
        requires = "jwt_issuer"
    )]
    pub jwks_file: Option<PathBuf>,

    /// The `iss` every JWT must carry.
    #[arg(long, env = "SINGLE_WINDOW_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// The `aud` every JWT must carry.
    #[arg(
        long,
        env = "SINGLE_WINDOW_JWT_AUDIENCE",
        default_value = "single-window"
    )]
    pub jwt_audience: String,

    /// JWT signature algorithms accepted (comma-separated; HMAC and `none` never are).
    #[arg(long, env = "SINGLE_WINDOW_JWT_ALGORITHMS", value_delimiter = ',', default_value = "RS256,ES256,EdDSA", value_parser = parse_algorithm)]
    pub jwt_algorithms: Vec<jsonwebtoken::Algorithm>,

    /// JWKS file of the citizens' identity provider, whose tokens portals send as
    /// `x-citizen-token`; needs `--citizen-token-issuer`. Without it, the embedded default's
    /// demo identity provider (loopback, no principals file) issues the demo citizens' tokens.
    #[arg(
        long,
        env = "SINGLE_WINDOW_CITIZEN_JWKS_FILE",
        value_name = "FILE",
        requires = "citizen_token_issuer"
    )]
    pub citizen_jwks_file: Option<PathBuf>,

    /// The `iss` every citizen token must carry.
    #[arg(long, env = "SINGLE_WINDOW_CITIZEN_TOKEN_ISSUER")]
    pub citizen_token_issuer: Option<String>,

    /// The `aud` every citizen token must carry.
    #[arg(
        long,
        env = "SINGLE_WINDOW_CITIZEN_TOKEN_AUDIENCE",
        default_value = "single-window"
    )]
    pub citizen_token_audience: String,

    /// The access log's name: the origin line of its signed checkpoints and the signer's name
    /// (a URL-like name unique to this deployment).
    #[arg(
        long,
        env = "SINGLE_WINDOW_LOG_ORIGIN",
        default_value = "single-window.localhost/access-log"
    )]
    pub log_origin: String,

    /// How often committed access events are added to the log's tree and a checkpoint is
    /// signed when it grew (and change notices get their positions).
    #[arg(long, env = "SINGLE_WINDOW_LOG_SEQUENCE_INTERVAL", default_value = "500ms", value_parser = parse_positive_duration)]
    pub log_sequence_interval: Duration,

    /// How long the answers of writes with a `request_id` are kept for retries (AIP-155); a retry
    /// after that is a new request.
    #[arg(long, env = "SINGLE_WINDOW_IDEMPOTENCY_RETENTION", default_value = "24h", value_parser = parse_positive_duration)]
    pub idempotency_retention: Duration,

    /// How long change notices are kept; a reader resuming from an older position gets
    /// FAILED_PRECONDITION with the oldest one.
    #[arg(long, env = "SINGLE_WINDOW_NOTICE_RETENTION", default_value = "720h", value_parser = parse_positive_duration)]
    pub notice_retention: Duration,

    /// The share of its time limit at which a running clock of a request or leg is at risk.
    #[arg(long, env = "SINGLE_WINDOW_AT_RISK_SHARE", default_value_t = crate::domain::due::DEFAULT_AT_RISK_SHARE, value_parser = parse_share)]
    pub at_risk_share: f64,

    /// How long a leg may wait on the citizen before it ends as abandoned.
    #[arg(long, env = "SINGLE_WINDOW_CITIZEN_WAIT_LIMIT", default_value = "720h", value_parser = parse_positive_duration)]
    pub citizen_wait_limit: Duration,

    /// The IANA time zone that clocks count business and calendar days in, for agencies without
    /// their own.
    #[arg(long, env = "SINGLE_WINDOW_TIME_ZONE", default_value = crate::domain::due::DEFAULT_TIME_ZONE, value_parser = parse_time_zone)]
    pub time_zone: String,

    /// An agency's own time zone, `AGENCY=ZONE` (for example `dfo-mpo=America/Halifax`);
    /// repeat or separate with commas.
    #[arg(long, env = "SINGLE_WINDOW_AGENCY_TIME_ZONES", value_delimiter = ',', value_parser = parse_agency_time_zone)]
    pub agency_time_zone: Vec<(String, String)>,

    /// How often each standard's live performance is measured from the legs of requests.
    #[arg(long, env = "SINGLE_WINDOW_PERFORMANCE_INTERVAL", default_value = "10s", value_parser = parse_positive_duration)]
    pub performance_interval: Duration,

    /// Events a stream subscriber (WatchAssignments, WatchChangeNotices) may have waiting; one
    /// that falls further behind is ended with RESOURCE_EXHAUSTED and its resume position.
    #[arg(long, env = "SINGLE_WINDOW_STREAM_BUFFER", default_value_t = 256, value_parser = parse_positive_count)]
    pub stream_buffer: usize,

    /// How long the survey invitation of an ended leg or request stays open for a response.
    #[arg(long, env = "SINGLE_WINDOW_SURVEY_WINDOW", default_value = "2160h", value_parser = parse_positive_duration)]
    pub survey_window: Duration,

    /// The fewest respondents a satisfaction report group is shown with; smaller groups (and the
    /// groups that would let them be recomputed) are suppressed.
    #[arg(long, env = "SINGLE_WINDOW_MINIMUM_RESPONDENTS", default_value_t = 10, value_parser = parse_positive_count)]
    pub minimum_respondents: usize,

    #[command(flatten)]
    pub warnings: WarningArgs,

    #[command(flatten)]
    pub limits: Limits,
}

/// The early warnings' thresholds and job.
#[derive(Debug, Clone, Args)]
pub struct WarningArgs {
    /// How often the early warnings job evaluates the rules (one replica at a time).
    #[arg(long, env = "SINGLE_WINDOW_WARNING_INTERVAL", default_value = "5m", value_parser = parse_positive_duration)]
    pub warning_interval: Duration,

    /// Fewest responses in each of the two quarters for a score drop to be tested.
    #[arg(long, env = "SINGLE_WINDOW_WARNING_MIN_RESPONSES", default_value_t = 30, value_parser = parse_positive_count)]
    pub warning_min_responses: usize,

    /// Smallest drop of a mean score, in points, against the previous quarter.
    #[arg(long, env = "SINGLE_WINDOW_WARNING_DROP", default_value_t = 0.3, value_parser = parse_points)]
    pub warning_drop: f64,

    /// The significance level of the score drop's one-sided Welch t-test.
    #[arg(long, env = "SINGLE_WINDOW_WARNING_SIGNIFICANCE", default_value_t = 0.05, value_parser = parse_share)]
    pub warning_significance: f64,

    /// The decline (wrong-door) rate of an agency pair above which it warns.
    #[arg(long, env = "SINGLE_WINDOW_WARNING_DECLINE_RATE", default_value_t = 0.25, value_parser = parse_share)]
    pub warning_decline_rate: f64,

    /// Fewest legs for a decline rate, a standard's performance or an at-risk backlog to warn.
    #[arg(long, env = "SINGLE_WINDOW_WARNING_MIN_LEGS", default_value_t = 20, value_parser = parse_positive_count)]
    pub warning_min_legs: usize,

    /// Growth of an agency's at-risk backlog over a week above which it warns (0.5: half as large
    /// again).
    #[arg(long, env = "SINGLE_WINDOW_WARNING_BACKLOG_GROWTH", default_value_t = 0.5, value_parser = parse_points)]
    pub warning_backlog_growth: f64,
}

impl WarningArgs {
    /// The rules' thresholds.
    pub fn settings(&self) -> crate::domain::warnings::WarningSettings {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        crate::domain::warnings::WarningSettings {
            min_responses: count(self.warning_min_responses),
            drop: self.warning_drop,
            significance: self.warning_significance,
            decline_rate: self.warning_decline_rate,
            min_legs: count(self.warning_min_legs),
            backlog_growth: self.warning_backlog_growth,
        }
    }
}

/// A positive number of points.
fn parse_points(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(points) if points > 0.0 && points.is_finite() => Ok(points),
        _ => Err(format!(
            "`{text}` must be a positive number (for example 0.3)"
        )),
    }
}

impl ServeArgs {
    /// The settings of feedback reports.
    pub fn feedback(&self) -> crate::feedback::FeedbackConfig {
        crate::feedback::FeedbackConfig {
            minimum_respondents: i64::try_from(self.minimum_respondents).unwrap_or(i64::MAX),
            time_zone: self.time_zone.clone(),
            warnings: self.warnings.settings(),
            warning_interval: self.warnings.warning_interval,
        }
    }

    /// The settings of requests' clocks and waits.
    pub fn requests(&self) -> crate::requests::RequestsConfig {
        crate::requests::RequestsConfig {
            at_risk_share: self.at_risk_share,
            wait_limit: self.citizen_wait_limit,
            default_time_zone: self.time_zone.clone(),
            agency_time_zones: self.agency_time_zone.iter().cloned().collect(),
            survey_window: self.survey_window,
        }
    }
}

/// A share strictly between 0 and 1.
fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if share > 0.0 && share < 1.0 => Ok(share),
        _ => Err(format!(
            "`{text}` must be a number between 0 and 1 (for example 0.8)"
        )),
    }
}

/// An IANA time zone name the bundled time zone database knows.
fn parse_time_zone(text: &str) -> Result<String, String> {
    crate::domain::due::time_zone(text)
        .map(|_| text.to_owned())
        .ok_or_else(|| {
            format!("`{text}` is not a time zone (use an IANA name such as America/Toronto)")
        })
}

/// `AGENCY=ZONE`.
fn parse_agency_time_zone(text: &str) -> Result<(String, String), String> {
    let (agency, zone) = text.split_once('=').ok_or_else(|| {
        format!("`{text}` must be AGENCY=ZONE (for example dfo-mpo=America/Halifax)")
    })?;
    let agency = agency.trim().trim_start_matches("agencies/");
    if agency.is_empty() {
        return Err(format!("`{text}` names no agency"));
    }
    Ok((agency.to_owned(), parse_time_zone(zone.trim())?))
}

/// Limits of connections and calls (every one has a safe default).
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Open connections at most; further connections are closed at once until one ends.
    #[arg(long, env = "SINGLE_WINDOW_MAX_CONNECTIONS", default_value_t = 4096, value_parser = parse_positive_count)]
    pub max_connections: usize,

    /// Time a new connection has to send the HTTP/2 preface (or its first HTTP/1.1 request
    /// headers) before it is closed.
    #[arg(long, env = "SINGLE_WINDOW_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub handshake_timeout: Duration,

    /// Idle time before TCP keepalive probes start (and the interval between probes).
    #[arg(long, env = "SINGLE_WINDOW_TCP_KEEPALIVE", default_value = "60s", value_parser = parse_positive_duration)]
    pub tcp_keepalive: Duration,

    /// Interval of HTTP/2 keepalive pings on a connection with calls open.
    #[arg(long, env = "SINGLE_WINDOW_HTTP2_KEEPALIVE_INTERVAL", default_value = "30s", value_parser = parse_positive_duration)]
    pub http2_keepalive_interval: Duration,

    /// How long a keepalive ping may go unanswered before the connection is closed.
    #[arg(long, env = "SINGLE_WINDOW_HTTP2_KEEPALIVE_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub http2_keepalive_timeout: Duration,

    /// Calls (HTTP/2 streams) open at once on one connection; streams beyond are refused. Enough
    /// for a few hundred long-lived subscriptions per connection.
    #[arg(
        long,
        env = "SINGLE_WINDOW_MAX_CONCURRENT_STREAMS",
        default_value_t = 512,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_concurrent_streams: u32,

    /// HTTP/2 receive window of each call: request bytes a client may send ahead of the server.
    #[arg(long, env = "SINGLE_WINDOW_HTTP2_STREAM_WINDOW", default_value = "256KiB", value_parser = parse_positive_size)]
    pub http2_stream_window: usize,

    /// HTTP/2 receive window of a connection, shared by its calls.
    #[arg(long, env = "SINGLE_WINDOW_HTTP2_CONNECTION_WINDOW", default_value = "1MiB", value_parser = parse_positive_size)]
    pub http2_connection_window: usize,

    /// Largest request header block.
    #[arg(long, env = "SINGLE_WINDOW_MAX_HEADER_LIST_SIZE", default_value = "16KiB", value_parser = parse_positive_size)]
    pub max_header_list_size: usize,

    /// Streams a client may reset before the server has accepted them, per connection (a
    /// rapid-reset defence); beyond it the connection is closed.
    #[arg(
        long,
        env = "SINGLE_WINDOW_MAX_PENDING_RESET_STREAMS",
        default_value_t = 20
    )]
    pub max_pending_reset_streams: usize,

    /// Largest request message (methods that need more say so in their documentation); larger
    /// requests are RESOURCE_EXHAUSTED before any handler runs.
    #[arg(long, env = "SINGLE_WINDOW_MAX_REQUEST_SIZE", default_value = "4MiB", value_parser = parse_positive_size)]
    pub max_request_size: usize,

    /// Largest response message the server will encode.
    #[arg(long, env = "SINGLE_WINDOW_MAX_RESPONSE_SIZE", default_value = "16MiB", value_parser = parse_positive_size)]
    pub max_response_size: usize,

    /// Bytes one connection may hold of requests still arriving and answers its client has not
    /// read; calls beyond it are RESOURCE_EXHAUSTED. A slow reader pins at most this much.
    #[arg(long, env = "SINGLE_WINDOW_CONNECTION_BUFFER", default_value = "8MiB", value_parser = parse_positive_size)]
    pub connection_buffer: usize,

    /// The same across all connections of the process.
    #[arg(long, env = "SINGLE_WINDOW_PROCESS_BUFFER", default_value = "512MiB", value_parser = parse_positive_size)]
    pub process_buffer: usize,

    /// Longest a unary call may run, whatever deadline its client asks (or when it asks none).
    #[arg(long, env = "SINGLE_WINDOW_MAX_DEADLINE", default_value = "30s", value_parser = parse_positive_duration)]
    pub max_deadline: Duration,

    /// Unary calls in flight across the process; further calls are shed at once with UNAVAILABLE
    /// (and RetryInfo) instead of queueing.
    #[arg(
        long,
        env = "SINGLE_WINDOW_MAX_CONCURRENT_CALLS",
        default_value_t = 1024,
        value_parser = parse_positive_count
    )]
    pub max_concurrent_calls: usize,
}

impl ServeArgs {
    /// The settings `serve` has with no command-line options (its environment variables still
    /// apply), but for `database_url` and a listen address of port 0: the one constructor tests
    /// and benchmarks start from.
    pub fn defaults_for(database_url: &str) -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let mut args = Only::parse_from(["single-window"]).serve;
        args.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        args.database.database_url = database_url.to_owned();
        args
    }
}

fn parse_token_key(text: &str) -> Result<TokenKey, String> {
    TokenKey::new(text.as_bytes().to_vec())
}

/// Parses a size above zero (a limit of zero would refuse everything).
pub fn parse_positive_size(text: &str) -> Result<usize, String> {
    match parse_size(text)? {
        0 => Err(format!("`{text}` must be above zero")),
        n => Ok(n),
    }
}

/// Parses a count above zero.
pub fn parse_positive_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(format!("`{text}` must be above zero")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// Parses `512`, `64KiB`, `4MiB` or `1GiB` (bytes; `KB`/`MB`/`GB` are read as the binary units).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let bad = || format!("`{text}` is not a size such as 512, 64KiB or 4MiB");
    let value: usize = digits.parse().map_err(|_| bad())?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" | "KB" | "K" => 10,
        "MiB" | "MB" | "M" => 20,
        "GiB" | "GB" | "G" => 30,
        _ => return Err(bad()),
    };
    value.checked_mul(1 << shift).ok_or_else(bad)
}

/// Settings of `catalog import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub files: CatalogFiles,

    /// Read and check the files and print the report, without writing to the database.
    #[arg(long)]
    pub dry_run: bool,
}

/// Catalogue source files; each defaults to the copy built into the binary.
#[derive(Debug, Clone, Args)]
pub struct CatalogFiles {
    /// Service Inventory CSV (the `si_*.csv` format of the GC Service Inventory).
    #[arg(long, value_name = "FILE", env = "SINGLE_WINDOW_CATALOG_SERVICES")]
    pub services: Option<PathBuf>,

    /// Service Standards CSV (the `ss_*.csv` format).
    #[arg(long, value_name = "FILE", env = "SINGLE_WINDOW_CATALOG_STANDARDS")]
    pub standards: Option<PathBuf>,

    /// Overlay JSON: life events, delivery partners and keywords.
    #[arg(long, value_name = "FILE", env = "SINGLE_WINDOW_CATALOG_OVERLAY")]
    pub overlay: Option<PathBuf>,
}

/// Settings of `eval routing`.
#[derive(Debug, Clone, Args)]
pub struct EvalRoutingArgs {
    /// The labelled JSON-lines file.
    pub file: PathBuf,

    /// Score the catalogue search alone (what `SearchServices` returns), for comparison.
    #[arg(long)]
    pub search_only: bool,

    /// Also list each item answered wrongly, with the first three answers.
    #[arg(long)]
    pub misses: bool,

    /// Override fusion weights for diagnosis, as `name=value,...` (k, lexical, semantic,
    /// lexical_gap, life_event, audience_miss, expansion).
    #[arg(long, value_name = "WEIGHTS", hide = true)]
    pub weights: Option<String>,

    #[command(flatten)]
    pub files: CatalogFiles,
}

/// Parses a duration above zero.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(format!("`{text}` must be above zero")),
        d => Ok(d),
    }
}

/// Parses `250ms`, `5s`, `2m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 500ms, 5s or 1m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_secs(value.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(value.saturating_mul(3600))),
        _ => Err(format!(
            "`{text}` is not a duration such as 500ms, 5s or 1m"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_refuses_garbage() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "5", "s", "-1s", "1.5s", "5 days"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("0ms").is_err());
    }

    #[test]
    fn parses_sizes_and_refuses_garbage() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        for bad in ["", "MiB", "4 TB", "-1", "1.5MiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_positive_size("0KiB").is_err());
        assert_eq!(parse_positive_count("3"), Ok(3));
        assert!(parse_positive_count("0").is_err() && parse_positive_count("x").is_err());
    }

    #[test]
    fn the_test_constructor_uses_the_documented_defaults() {
        let args = ServeArgs::defaults_for("sqlite://x.db");
        assert_eq!(args.listen.port(), 0);
        assert_eq!(args.limits.max_request_size, 4 << 20);
        assert_eq!(args.limits.max_deadline, Duration::from_secs(30));
        assert!(args.page_token_key.is_none());
    }

    #[test]
    fn a_zero_limit_is_refused_with_the_option_named() {
        for (flag, value) in [
            ("--max-connections", "0"),
            ("--max-concurrent-streams", "0"),
            ("--max-concurrent-calls", "0"),
            ("--connection-buffer", "0"),
            ("--max-request-size", "0MiB"),
        ] {
            let error = Cli::try_parse_from(["single-window", flag, value]).expect_err(flag);
            assert!(error.to_string().contains(flag), "{error}");
        }
    }

    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
