// One request as the citizen follows it: every leg, agency by agency, with its clock against the
// published standard, its pauses and what happened; a rating form for each ended leg she was
// invited to rate; and withdrawal while it is open.

import { useState } from "preact/hooks";
import { clients, failure, requestId, type CallFailure, type Session } from "../../api.js";
import { useLoad } from "../../async.js";
import { Failure, PageTitle, Show } from "../../components/common.js";
import type { Scores, SurveyInvitation } from "../../gen/singlewindow/v1/feedback_service_pb.js";
import { ClockStatus, HandoffReason, RequestStatus, type Handoff, type JourneyLeg } from "../../gen/singlewindow/v1/request_service_pb.js";
import { loc, percent, useLang } from "../../i18n.js";
import { useAgencyName } from "../../names.js";
import { when } from "../../time.js";
import { CitizenNav } from "./nav.js";

type CitizenSession = Extract<Session, { kind: "citizen" }>;

async function load(session: CitizenSession, name: string) {
  const api = clients(session);
  const [journey, request, invitations] = await Promise.all([
    api.requests.getJourney({ name }),
    api.requests.getRequest({ name }),
    api.feedback.listSurveyInvitations({ parent: session.citizen, includeClosed: true, pageSize: 500 }),
  ]);
  return { journey, request, invitations: invitations.invitations };
}

export function RequestPage({ session, id }: { session: CitizenSession; id: string }) {
  const { t, lang } = useLang();
  const name = `requests/${id}`;
  const [loaded, reload] = useLoad(() => load(session, name), [name]);
  return (
    <>
      <PageTitle>{t.requestTitle}</PageTitle>
      <CitizenNav path="" />
      <Show loaded={loaded} onRetry={reload}>
        {({ journey, request, invitations }) => (
          <>
            <p class="lead">{loc(journey.summary, lang)}</p>
            <p>
              <span class="status">{t.requestStatus[journey.status]}</span> · {t.openedOn(when(request.createTime, lang))}
            </p>
            <h2>{t.legsTitle}</h2>
            <ol class="legs">
              {journey.legs.map((leg) => (
                <Leg
                  key={leg.handoff}
                  leg={leg}
                  handoff={request.handoffs.find((h) => h.name === leg.handoff)}
                  session={session}
                  invitation={invitations.find((i) => i.subject === leg.handoff)}
                  onRated={reload}
                />
              ))}
            </ol>
            {journey.status === RequestStatus.OPEN && <Withdraw session={session} name={name} etag={request.etag} onDone={reload} />}
          </>
        )}
      </Show>
    </>
  );
}

function clockClass(status: ClockStatus): string {
  if (status === ClockStatus.BREACHED || status === ClockStatus.MISSED) return "status status-bad";
  if (status === ClockStatus.AT_RISK) return "status status-warn";
  return "status status-ok";
}

function Leg({
  leg,
  handoff,
  session,
  invitation,
  onRated,
}: {
  leg: JourneyLeg;
  handoff?: Handoff;
  session: CitizenSession;
  invitation?: SurveyInvitation;
  onRated: () => void;
}) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const clock = leg.clock;
  const service = loc(leg.serviceName, lang);
  const agency = loc(leg.agencyName, lang);
  return (
    <li class="leg">
      <h3>{agency}: {service}</h3>
      <p>
        <span class="status">{t.handoffState[leg.state]}</span>
        {clock && clock.status !== ClockStatus.UNSPECIFIED && (
          <>
            {" · "}
            <span class={clockClass(clock.status)}>{t.clockStatus[clock.status]}</span>
          </>
        )}
      </p>
      {handoff?.fromAgency && (
        <p>
          {handoff.reason === HandoffReason.WRONG_DOOR ? t.wrongDoorFrom(agencyName(handoff.fromAgency)) : t.handedFrom(agencyName(handoff.fromAgency))}
        </p>
      )}
      <p>{loc(leg.summary, lang)}</p>
      {clock?.dueTime && !clock.endTime && <p>{t.dueBy(when(clock.dueTime, lang))} · {t.usedOfStandard(percent(clock.shareUsed, lang))}</p>}
      <ul>
        {leg.events.map((e, i) => (
          <li key={i}>
            <span class="meta">{when(e.time, lang)}</span> — {loc(e.text, lang)}
          </li>
        ))}
      </ul>
      {invitation &&
        (invitation.responded ? (
          <p class="notice notice-ok">{t.alreadyRated}</p>
        ) : (
          <RatingForm session={session} subject={leg.handoff} label={`${agency}: ${service}`} onDone={onRated} />
        ))}
    </li>
  );
}

const DRIVERS: { key: keyof Pick<Scores, "satisfaction" | "trust" | "effectiveness" | "ease" | "efficiency" | "transparency" | "employees" | "value">; required: boolean }[] = [
  { key: "satisfaction", required: true },
  { key: "trust", required: true },
  { key: "effectiveness", required: false },
  { key: "ease", required: false },
  { key: "efficiency", required: false },
  { key: "transparency", required: false },
  { key: "employees", required: false },
  { key: "value", required: false },
];

function RatingForm({ session, subject, label, onDone }: { session: CitizenSession; subject: string; label: string; onDone: () => void }) {
  const { t } = useLang();
  const [scores, setScores] = useState<Record<string, number>>({});
  const [contacts, setContacts] = useState("1");
  const [comment, setComment] = useState("");
  const [error, setError] = useState<CallFailure | null>(null);
  const [busy, setBusy] = useState(false);
  const [id] = useState(requestId);
  const prefix = subject.replace(/[^a-z0-9]/gi, "-");
  const send = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await clients(session).feedback.recordSatisfaction({
        subject,
        scores,
        contacts: Number(contacts) || 0,
        comment,
        requestId: id,
      });
      onDone();
    } catch (err) {
      setError(failure(err));
      setBusy(false);
    }
  };
  return (
    <form onSubmit={send} aria-label={`${t.rateTitle}: ${label}`}>
      <h4>{t.rateTitle}</h4>
      <p>{t.rateIntro} {t.rateScale}</p>
      {DRIVERS.map(({ key, required }) => (
        <fieldset key={key}>
          <legend>
            {t.driverStatement[key]}
            {required && ` (${t.required})`}
          </legend>
          <div class="scale">
            {[1, 2, 3, 4, 5].map((n) => (
              <label key={n}>
                <input
                  type="radio"
                  name={`${prefix}-${key}`}
                  value={n}
                  required={required}
                  checked={scores[key] === n}
                  onChange={() => setScores((s) => ({ ...s, [key]: n }))}
                />
                {n}
              </label>
            ))}
          </div>
        </fieldset>
      ))}
      <div class="field">
        <label for={`${prefix}-contacts`}>{t.contactsLabel}</label>
        <input id={`${prefix}-contacts`} type="number" min={1} max={99} inputMode="numeric" value={contacts} onInput={(e) => setContacts((e.target as HTMLInputElement).value)} />
      </div>
      <div class="field">
        <label for={`${prefix}-comment`}>{t.commentLabel}</label>
        <textarea id={`${prefix}-comment`} value={comment} onInput={(e) => setComment((e.target as HTMLTextAreaElement).value)} />
      </div>
      {error && <Failure failure={error} />}
      <button type="submit" disabled={busy}>{t.sendRating}</button>
    </form>
  );
}

function Withdraw({ session, name, etag, onDone }: { session: CitizenSession; name: string; etag: string; onDone: () => void }) {
  const { t } = useLang();
  const [error, setError] = useState<CallFailure | null>(null);
  const [id] = useState(requestId);
  return (
    <>
      {error && <Failure failure={error} />}
      <button
        type="button"
        class="secondary"
        onClick={async () => {
          try {
            await clients(session).requests.withdrawRequest({ name, etag, requestId: id });
            onDone();
          } catch (err) {
            setError(failure(err));
          }
        }}
      >
        {t.withdraw}
      </button>
    </>
  );
}
