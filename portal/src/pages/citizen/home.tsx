// The citizen's home: describe a need in her own words, see the services RouteNeed ranks for it
// with their reasons, choose one, choose what of her record to share (the consent it makes is
// shown before anything is sent), and open the request. Her requests are listed below.

import { useState } from "preact/hooks";
import { clients, failure, requestId, type CallFailure, type Session } from "../../api.js";
import { useLoad } from "../../async.js";
import { Failure, PageTitle, Show } from "../../components/common.js";
import { ConsentCategory } from "../../gen/singlewindow/v1/citizen_service_pb.js";
import { EligibilityStatus, type RouteCandidate, type RouteNeedResponse } from "../../gen/singlewindow/v1/routing_service_pb.js";
import { Channel } from "../../gen/singlewindow/v1/types_pb.js";
import { loc, useLang } from "../../i18n.js";
import { useAgencyName } from "../../names.js";
import { go } from "../../router.js";
import { idOf, when } from "../../time.js";
import { CitizenNav } from "./nav.js";

type CitizenSession = Extract<Session, { kind: "citizen" }>;

/** Agencies a citizen may say she started at (the demo's three, and the portal itself). */
const ENTRY_AGENCIES = ["agencies/cra-arc", "agencies/esdc-edsc", "agencies/cic"];

const SHAREABLE = [
  ConsentCategory.CONTACT,
  ConsentCategory.ADDRESS,
  ConsentCategory.IDENTITY,
  ConsentCategory.PREFERENCES,
  ConsentCategory.ACCESSIBILITY,
];

interface Asked {
  text: string;
  entry: string;
  response: RouteNeedResponse;
}

export function CitizenHome({ session }: { session: CitizenSession }) {
  const { t } = useLang();
  const [asked, setAsked] = useState<Asked | null>(null);
  const [chosen, setChosen] = useState<RouteCandidate | null>(null);
  return (
    <>
      <PageTitle>{t.citizenTitle(session.name)}</PageTitle>
      <CitizenNav path="/citizen" />
      <NeedForm session={session} onAnswer={(a) => { setAsked(a); setChosen(null); }} />
      {asked && !chosen && <Candidates asked={asked} onChoose={setChosen} />}
      {asked && chosen && <OpenForm session={session} asked={asked} candidate={chosen} onCancel={() => setChosen(null)} />}
      <MyRequests session={session} />
    </>
  );
}

function NeedForm({ session, onAnswer }: { session: CitizenSession; onAnswer: (a: Asked) => void }) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const [text, setText] = useState("");
  const [entry, setEntry] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<CallFailure | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const response = await clients(session).routing.routeNeed({
        need: { need: { case: "text", value: text } },
        citizen: session.citizen,
        entryPoint: { agency: entry, channel: Channel.ONLINE },
        maxCandidates: 5,
      });
      onAnswer({ text, entry, response });
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="need-title">
      <h2 id="need-title">{t.needTitle}</h2>
      <form onSubmit={submit}>
        <div class="field">
          <label for="need">{t.needLabel}</label>
          <span class="hint" id="need-hint">{t.needHint}</span>
          <textarea id="need" aria-describedby="need-hint" value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
        </div>
        <div class="field">
          <label for="entry">{t.startedAtLabel}</label>
          <span class="hint" id="entry-hint">{t.startedAtHint}</span>
          <select id="entry" aria-describedby="entry-hint" value={entry} onChange={(e) => setEntry((e.target as HTMLSelectElement).value)}>
            <option value="">{t.startedNowhere}</option>
            {ENTRY_AGENCIES.map((a) => (
              <option key={a} value={a}>{agencyName(a)}</option>
            ))}
          </select>
        </div>
        {error && <Failure failure={error} />}
        <button type="submit" disabled={busy}>{t.findServices}</button>
      </form>
    </section>
  );
}

function Candidates({ asked, onChoose }: { asked: Asked; onChoose: (c: RouteCandidate) => void }) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const candidates = asked.response.candidates;
  return (
    <section aria-labelledby="candidates-title">
      <h2 id="candidates-title" tabIndex={-1} ref={(h) => h?.focus()}>{t.candidatesTitle}</h2>
      <p>{candidates.length ? t.candidatesIntro : t.noCandidates}</p>
      <ol class="candidates">
        {candidates.map((c) => {
          const name = loc(c.serviceName, lang);
          return (
            <li key={c.service} class="candidate">
              <h3>{name}</h3>
              <p class="meta">{t.handledBy(agencyName(c.handToAgency))}</p>
              <h4>{t.whyTitle}</h4>
              <ul>
                {c.reasons.map((r, i) => (
                  <li key={i}>{loc(r.text, lang)}</li>
                ))}
              </ul>
              {c.eligibility === EligibilityStatus.FAILED && (
                <p class="status status-warn">{t.eligibilityTitle}: {c.eligibilityChecks.map((x) => loc(x.explanation, lang)).join(" ")}</p>
              )}
              <button type="button" onClick={() => onChoose(c)}>{t.chooseService(name)}</button>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

function OpenForm({ session, asked, candidate, onCancel }: { session: CitizenSession; asked: Asked; candidate: RouteCandidate; onCancel: () => void }) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const [shared, setShared] = useState<ConsentCategory[]>([ConsentCategory.CONTACT]);
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<CallFailure | null>(null);
  const [id] = useState(requestId);
  const service = loc(candidate.serviceName, lang);
  const agency = agencyName(candidate.handToAgency);
  const toggle = (c: ConsentCategory, on: boolean) => setShared((s) => (on ? [...s, c] : s.filter((x) => x !== c)));
  const send = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Her words when she takes the best candidate: the server routes them again and keeps the
      // ranking with the request, so that a decline moves on to the next candidate and the first
      // leg says why it went where it did (a wrong door, a delivery partner). Another choice
      // names its service.
      const best = asked.response.candidates[0]?.service === candidate.service;
      const request = await clients(session).requests.openRequest({
        citizen: session.citizen,
        need: best ? { need: { case: "text", value: asked.text } } : { need: { case: "service", value: candidate.service } },
        entryPoint: { agency: asked.entry, channel: Channel.ONLINE },
        note: best ? note : [asked.text, note].filter(Boolean).join("\n\n"),
        sharedCategories: SHAREABLE.filter((c) => shared.includes(c)),
        requestId: id,
      });
      go(`/citizen/requests/${idOf(request.name)}`);
    } catch (err) {
      setError(failure(err));
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="open-title">
      <h2 id="open-title" tabIndex={-1} ref={(h) => h?.focus()}>{t.openTitle(service)}</h2>
      <form onSubmit={send}>
        <fieldset class="checks">
          <legend>{t.shareLegend}</legend>
          <p class="hint">{t.shareHint}</p>
          {SHAREABLE.map((c) => (
            <label key={c}>
              <input type="checkbox" checked={shared.includes(c)} onChange={(e) => toggle(c, (e.target as HTMLInputElement).checked)} />{" "}
              {t.consentCategory[c]}
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="note">{t.noteLabel}</label>
          <textarea id="note" value={note} onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} />
        </div>
        <div class="notice" role="region" aria-labelledby="review-title">
          <h3 id="review-title">{t.reviewTitle}</h3>
          <p>{t.reviewText(agency, service)}</p>
          {shared.length === 0 ? (
            <p>{t.reviewNothingShared}</p>
          ) : (
            <ul>
              {SHAREABLE.filter((c) => shared.includes(c)).map((c) => (
                <li key={c}>{t.consentCategory[c]}</li>
              ))}
            </ul>
          )}
        </div>
        {error && <Failure failure={error} />}
        <div class="row">
          <button type="submit" disabled={busy}>{t.send}</button>
          <button type="button" class="secondary" onClick={onCancel}>{t.cancel}</button>
        </div>
      </form>
    </section>
  );
}

function MyRequests({ session }: { session: CitizenSession }) {
  const { t, lang } = useLang();
  const [loaded, reload] = useLoad(() => clients(session).requests.listRequests({ pageSize: 50 }), [session.citizen]);
  return (
    <section aria-labelledby="requests-title">
      <h2 id="requests-title">{t.yourRequests}</h2>
      <Show loaded={loaded} onRetry={reload}>
        {(page) =>
          page.requests.length === 0 ? (
            <p>{t.noRequests}</p>
          ) : (
            <ul>
              {[...page.requests].reverse().map((r) => (
                <li key={r.name}>
                  <a href={`#/citizen/requests/${idOf(r.name)}`}>
                    {r.need?.need.case === "text" ? r.need.need.value : r.note.split("\n")[0] || r.service}
                  </a>{" "}
                  — {t.requestStatus[r.status]} · {t.openedOn(when(r.createTime, lang))}
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}
