// The agency desk: the legs offered to the officer's agency or held by it, late and at-risk ones
// first, with the steps each state allows (accept, decline with a reason, start, wait on the
// citizen, resume, refer part of the work onward, complete). WatchAssignments, a gRPC-Web server
// stream, keeps the queue live: every event is announced and the queue reloads; a dropped stream
// resumes after the last position it saw, so nothing is missed.

import { useEffect, useRef, useState } from "preact/hooks";
import { clients, failure, requestId, type CallFailure, type Session } from "../../api.js";
import { useLoad } from "../../async.js";
import { Failure, PageTitle, Show } from "../../components/common.js";
import {
  ClockStatus,
  DeclineReason,
  HandoffOutcome,
  HandoffState,
  type Handoff,
  type Request,
} from "../../gen/singlewindow/v1/request_service_pb.js";
import { percent, useLang } from "../../i18n.js";
import { useAgencyName, useServiceName } from "../../names.js";
import { when } from "../../time.js";
import { DeskNav } from "./nav.js";

type OfficerSession = Extract<Session, { kind: "officer" }>;

const OPEN = [HandoffState.OFFERED, HandoffState.ACCEPTED, HandoffState.IN_PROGRESS, HandoffState.WAITING_ON_CITIZEN];
const URGENCY: Partial<Record<ClockStatus, number>> = { [ClockStatus.BREACHED]: 0, [ClockStatus.AT_RISK]: 1 };

export function agencyOf(principal: string): string {
  return principal.split("/teams/")[0];
}

interface Item {
  request: Request;
  leg: Handoff;
}

function queueItems(requests: Request[], agency: string): Item[] {
  const items = requests.flatMap((request) =>
    request.handoffs.filter((h) => h.toAgency === agency && OPEN.includes(h.state)).map((leg) => ({ request, leg })),
  );
  const urgency = (i: Item) => URGENCY[i.leg.clock?.status ?? ClockStatus.UNSPECIFIED] ?? 2;
  const due = (i: Item) => Number(i.leg.clock?.dueTime?.seconds ?? BigInt(Number.MAX_SAFE_INTEGER));
  return items.sort((a, b) => urgency(a) - urgency(b) || due(a) - due(b));
}

export function Queue({ session }: { session: OfficerSession }) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const agency = agencyOf(session.principal);
  const [loaded, reload] = useLoad(() => clients(session).requests.listRequests({ pageSize: 500 }), [session.key]);
  const live = useAssignments(session, reload);
  return (
    <>
      <PageTitle>{t.deskTitle(agencyName(agency))}</PageTitle>
      <DeskNav path="/desk" />
      <p>{t.deskIntro}</p>
      <section aria-labelledby="live-title">
        <h2 id="live-title">{t.liveUpdates}</h2>
        <p class="meta">{live.connected ? t.liveConnected : t.liveReconnecting}</p>
        <div role="log" aria-live="polite" aria-label={t.liveUpdates}>
          <ul class="live-log">
            {live.events.map((e) => (
              <li key={e.key}>{e.text}</li>
            ))}
          </ul>
        </div>
      </section>
      <Show loaded={loaded} onRetry={reload}>
        {(page) => {
          const items = queueItems(page.requests, agency);
          return items.length === 0 ? (
            <p>{t.queueEmpty}</p>
          ) : (
            <ol class="legs" aria-label={t.navQueue}>
              {items.map((item) => (
                <QueueItem key={item.leg.name} item={item} session={session} onChanged={reload} />
              ))}
            </ol>
          );
        }}
      </Show>
    </>
  );
}

interface LiveEvent {
  key: string;
  text: string;
}

function useAssignments(session: OfficerSession, onEvent: () => void) {
  const { t } = useLang();
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const [connected, setConnected] = useState(false);
  const labels = useRef(t);
  labels.current = t;
  useEffect(() => {
    const stop = new AbortController();
    let after: bigint | undefined;
    (async () => {
      while (!stop.signal.aborted) {
        try {
          const stream = clients(session).requests.watchAssignments(
            { afterPosition: after },
            { signal: stop.signal, timeoutMs: 0 },
          );
          setConnected(true);
          for await (const event of stream) {
            after = event.position;
            const text = labels.current.liveEvent(labels.current.handoffState[event.state], event.request);
            setEvents((list) => [{ key: String(event.position), text }, ...list].slice(0, 50));
            onEvent();
          }
        } catch {
          // Ended by the server (shutdown, too far behind) or the network: resume after `after`.
        }
        setConnected(false);
        if (!stop.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    return () => stop.abort();
  }, [session.key]);
  return { events, connected };
}

type Mode = null | "decline" | "pause" | "refer" | "complete";

function QueueItem({ item, session, onChanged }: { item: Item; session: OfficerSession; onChanged: () => void }) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const serviceName = useServiceName(lang);
  const { request, leg } = item;
  const clock = leg.clock;
  const need = request.need?.need.case === "text" ? request.need.need.value : request.note.split("\n")[0] || leg.service;
  const urgent = clock?.status === ClockStatus.BREACHED ? "status status-bad" : clock?.status === ClockStatus.AT_RISK ? "status status-warn" : "status";
  return (
    <li class="leg">
      <h3>{need}</h3>
      <p>
        <span class="status">{t.handoffState[leg.state]}</span> · {serviceName(leg.service)} · {t.fromAgency}: {agencyName(leg.fromAgency)}
      </p>
      {clock && (
        <p>
          {t.clock}: <span class={urgent}>{t.clockStatus[clock.status]}</span>
          {clock.dueTime && ` · ${t.dueBy(when(clock.dueTime, lang))} · ${t.usedOfStandard(percent(clock.shareUsed, lang))}`}
        </p>
      )}
      {leg.sharedCategories.length > 0 && (
        <p>
          {t.shared}: {leg.sharedCategories.map((c) => t.consentCategory[c]).join(", ")}
        </p>
      )}
      {request.note && <p class="meta">{request.note}</p>}
      <LegActions leg={leg} session={session} onChanged={onChanged} />
    </li>
  );
}

function LegActions({ leg, session, onChanged }: { leg: Handoff; session: OfficerSession; onChanged: () => void }) {
  const { t } = useLang();
  const [mode, setMode] = useState<Mode>(null);
  const [error, setError] = useState<CallFailure | null>(null);
  const [busy, setBusy] = useState(false);
  const api = clients(session).requests;
  const base = { name: leg.name, etag: leg.etag };
  const run = async (step: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await step();
      setMode(null);
      onChanged();
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };
  const held = [HandoffState.ACCEPTED, HandoffState.IN_PROGRESS, HandoffState.WAITING_ON_CITIZEN].includes(leg.state);
  return (
    <div>
      <div class="row">
        {leg.state === HandoffState.OFFERED && (
          <>
            <button type="button" disabled={busy} onClick={() => run(() => api.acceptHandoff({ ...base, requestId: requestId() }))}>{t.accept}</button>
            <button type="button" class="secondary" aria-expanded={mode === "decline"} onClick={() => setMode(mode === "decline" ? null : "decline")}>{t.decline}</button>
          </>
        )}
        {leg.state === HandoffState.ACCEPTED && (
          <button type="button" disabled={busy} onClick={() => run(() => api.startWork({ ...base, requestId: requestId() }))}>{t.start}</button>
        )}
        {leg.state === HandoffState.WAITING_ON_CITIZEN && (
          <button type="button" disabled={busy} onClick={() => run(() => api.resumeWork({ ...base, requestId: requestId() }))}>{t.resume}</button>
        )}
        {held && leg.state !== HandoffState.WAITING_ON_CITIZEN && (
          <button type="button" class="secondary" aria-expanded={mode === "pause"} onClick={() => setMode(mode === "pause" ? null : "pause")}>{t.pause}</button>
        )}
        {held && (
          <>
            <button type="button" class="secondary" aria-expanded={mode === "refer"} onClick={() => setMode(mode === "refer" ? null : "refer")}>{t.refer}</button>
            <button type="button" aria-expanded={mode === "complete"} onClick={() => setMode(mode === "complete" ? null : "complete")}>{t.complete}</button>
          </>
        )}
      </div>
      {mode && <StepForm mode={mode} leg={leg} busy={busy} onSubmit={(step) => run(() => step(api, base))} onCancel={() => setMode(null)} />}
      {error && <Failure failure={error} />}
    </div>
  );
}

type Api = ReturnType<typeof clients>["requests"];
type Step = (api: Api, base: { name: string; etag: string }) => Promise<unknown>;

function StepForm({ mode, leg, busy, onSubmit, onCancel }: { mode: Exclude<Mode, null>; leg: Handoff; busy: boolean; onSubmit: (step: Step) => void; onCancel: () => void }) {
  const { t } = useLang();
  const [reason, setReason] = useState(DeclineReason.NOT_OUR_MANDATE);
  const [outcome, setOutcome] = useState(HandoffOutcome.DELIVERED);
  const [text, setText] = useState("");
  const [agency, setAgency] = useState("");
  const [service, setService] = useState("");
  const [id] = useState(requestId);
  const prefix = `${leg.name.replace(/[^a-z0-9]/gi, "-")}-${mode}`;
  const submit = (e: Event) => {
    e.preventDefault();
    onSubmit((api, base) => {
      switch (mode) {
        case "decline":
          return api.declineHandoff({ ...base, reason, text, requestId: id });
        case "pause":
          return api.waitOnCitizen({ ...base, reason: text, requestId: id });
        case "refer":
          return api.referOnward({ ...base, agency, service, note: text, requestId: id });
        case "complete":
          return api.completeHandoff({ ...base, outcome, text, requestId: id });
      }
    });
  };
  const textLabel = { decline: t.explanationLabel, pause: t.waitReasonLabel, refer: t.referNoteLabel, complete: t.outcomeTextLabel }[mode];
  return (
    <form onSubmit={submit} class="step-form">
      {mode === "decline" && (
        <div class="field">
          <label for={`${prefix}-reason`}>{t.reasonLabel}</label>
          <select id={`${prefix}-reason`} value={reason} onChange={(e) => setReason(Number((e.target as HTMLSelectElement).value))}>
            {[DeclineReason.NOT_OUR_MANDATE, DeclineReason.NOT_ELIGIBLE, DeclineReason.OUTSIDE_JURISDICTION, DeclineReason.DUPLICATE, DeclineReason.INSUFFICIENT_INFORMATION, DeclineReason.OTHER].map((r) => (
              <option key={r} value={r}>{t.declineReason[r]}</option>
            ))}
          </select>
        </div>
      )}
      {mode === "complete" && (
        <div class="field">
          <label for={`${prefix}-outcome`}>{t.outcomeLabel}</label>
          <select id={`${prefix}-outcome`} value={outcome} onChange={(e) => setOutcome(Number((e.target as HTMLSelectElement).value))}>
            {[HandoffOutcome.DELIVERED, HandoffOutcome.INFORMATION_PROVIDED, HandoffOutcome.REFUSED, HandoffOutcome.CITIZEN_DECLINED].map((o) => (
              <option key={o} value={o}>{t.handoffOutcome[o]}</option>
            ))}
          </select>
        </div>
      )}
      {mode === "refer" && (
        <>
          <div class="field">
            <label for={`${prefix}-agency`}>{t.referAgencyLabel}</label>
            <input id={`${prefix}-agency`} value={agency} onInput={(e) => setAgency((e.target as HTMLInputElement).value)} />
          </div>
          <div class="field">
            <label for={`${prefix}-service`}>{t.referServiceLabel}</label>
            <input id={`${prefix}-service`} value={service} onInput={(e) => setService((e.target as HTMLInputElement).value)} />
          </div>
        </>
      )}
      <div class="field">
        <label for={`${prefix}-text`}>{textLabel}</label>
        <textarea id={`${prefix}-text`} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      </div>
      <div class="row">
        <button type="submit" disabled={busy}>{t.confirm}</button>
        <button type="button" class="secondary" onClick={onCancel}>{t.cancel}</button>
      </div>
    </form>
  );
}
