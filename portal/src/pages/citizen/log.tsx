// The citizen's access log, verified in her browser: every event (allowed or refused), the signed
// checkpoint checked against the log's key, each event's inclusion proof in the checkpoint's tree
// (the log of every citizen), and the consistency proof from the checkpoint this browser kept at
// her last visit. The key is pinned on first sight: a change is shown.

import { useEffect, useState } from "preact/hooks";
import { clients, type Session } from "../../api.js";
import { useLoad } from "../../async.js";
import { PageTitle, Show } from "../../components/common.js";
import { AccessOutcome, ConsentPurpose, type AccessEvent, type ListAccessEventsResponse } from "../../gen/singlewindow/v1/citizen_service_pb.js";
import { useLang } from "../../i18n.js";
import { useAgencyName } from "../../names.js";
import { when } from "../../time.js";
import { fromBase64, leafHash, toBase64, verifyCheckpoint, verifyConsistency, verifyInclusion } from "../../verify.js";
import { CitizenNav } from "./nav.js";

type CitizenSession = Extract<Session, { kind: "citizen" }>;

interface Kept {
  size: number;
  root: string;
  key: string;
}

const keptKey = (citizen: string) => `single-window.checkpoint.${citizen}`;

function kept(citizen: string): Kept | null {
  try {
    return JSON.parse(localStorage.getItem(keptKey(citizen)) ?? "null") as Kept | null;
  } catch {
    return null;
  }
}

interface Log {
  events: AccessEvent[];
  first: ListAccessEventsResponse;
  last: ListAccessEventsResponse;
  known: Kept | null;
}

async function loadLog(session: CitizenSession): Promise<Log> {
  const api = clients(session).citizens;
  const known = kept(session.citizen);
  const events: AccessEvent[] = [];
  let pageToken = "";
  let first: ListAccessEventsResponse | null = null;
  let last: ListAccessEventsResponse;
  do {
    last = await api.listAccessEvents({
      parent: session.citizen,
      pageSize: 500,
      pageToken,
      knownTreeSize: first ? 0n : BigInt(known?.size ?? 0),
    });
    first ??= last;
    events.push(...last.events);
    pageToken = last.nextPageToken;
  } while (pageToken);
  return { events, first, last, known };
}

type Verdict =
  | { state: "checking" }
  | { state: "failed"; why: string }
  | { state: "verified"; proven: number; size: number; grew: [number, number] | null; keyChanged: boolean };

async function verify(log: Log, citizen: string): Promise<Verdict> {
  const { first, events, known } = log;
  if (!first.checkpoint) return { state: "verified", proven: 0, size: 0, grew: null, keyChanged: false };
  const checkpoint = await verifyCheckpoint(first.checkpoint, first.verifierKey);
  let proven = 0;
  const leaves = [];
  for (const e of events) {
    const hash = await leafHash(e.leaf);
    if (e.leafIndex === undefined || Number(e.leafIndex) >= checkpoint.size) continue;
    leaves.push(hash);
    if (!(await verifyInclusion(Number(e.leafIndex), checkpoint.size, hash, e.inclusionProof, checkpoint.root))) {
      return { state: "failed", why: `event ${e.name} is not in the checkpoint's tree` };
    }
    proven += 1;
  }
  let grew: [number, number] | null = null;
  const keyChanged = known !== null && known.key !== first.verifierKey;
  if (known && !keyChanged && known.size > 0) {
    const ok = await verifyConsistency(known.size, checkpoint.size, fromBase64(known.root), checkpoint.root, first.consistencyProof);
    if (!ok) return { state: "failed", why: "the log does not extend the checkpoint this browser kept" };
    grew = [known.size, checkpoint.size];
  }
  localStorage.setItem(keptKey(citizen), JSON.stringify({ size: checkpoint.size, root: toBase64(checkpoint.root), key: first.verifierKey }));
  return { state: "verified", proven, size: checkpoint.size, grew, keyChanged };
}

export function AccessLog({ session }: { session: CitizenSession }) {
  const { t } = useLang();
  const [loaded, reload] = useLoad(() => loadLog(session), [session.citizen]);
  return (
    <>
      <PageTitle>{t.logTitle}</PageTitle>
      <CitizenNav path="/citizen/log" />
      <p>{t.logIntro}</p>
      <Show loaded={loaded} onRetry={reload}>
        {(log) => <Verified log={log} citizen={session.citizen} />}
      </Show>
    </>
  );
}

function Verified({ log, citizen }: { log: Log; citizen: string }) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const [verdict, setVerdict] = useState<Verdict>({ state: "checking" });
  useEffect(() => {
    verify(log, citizen).then(setVerdict, (e: Error) => setVerdict({ state: "failed", why: e.message }));
  }, [log]);
  return (
    <>
      <div role="status" class={`notice ${verdict.state === "verified" ? "verified" : verdict.state === "failed" ? "notice-error" : ""}`}>
        {verdict.state === "checking" && t.verifying}
        {verdict.state === "failed" && t.verifyFailed(verdict.why)}
        {verdict.state === "verified" && (
          <>
            <p>{t.verified(verdict.proven, verdict.size)}</p>
            {verdict.grew && <p>{t.verifiedGrew(verdict.grew[0], verdict.grew[1])}</p>}
            {verdict.keyChanged && <p class="status status-bad">{t.keyChanged}</p>}
          </>
        )}
      </div>
      <table>
        <caption class="visually-hidden">{t.logTitle}</caption>
        <thead>
          <tr>
            <th scope="col">{t.when}</th>
            <th scope="col">{t.actor}</th>
            <th scope="col">{t.what}</th>
            <th scope="col">{t.why}</th>
            <th scope="col">{t.outcome}</th>
          </tr>
        </thead>
        <tbody>
          {[...log.events].reverse().map((e) => (
            <tr key={e.name}>
              <td>{when(e.time, lang)}</td>
              <th scope="row">{e.actor.startsWith("agencies/") ? agencyName(e.actor) : e.actor.startsWith("portals/") ? t.youThroughPortal : e.actor}</th>
              <td>
                {t.accessAction[e.action] ?? String(e.action)}
                {e.categories.length > 0 && ` (${e.categories.map((c) => t.consentCategory[c]).join(", ")})`}
              </td>
              <td>{e.purpose === ConsentPurpose.UNSPECIFIED ? "—" : t.consentPurpose[e.purpose]}</td>
              <td class={e.outcome === AccessOutcome.DENIED ? "status status-bad" : ""}>
                {e.outcome === AccessOutcome.DENIED ? t.denied : t.allowed}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
