// The citizen's consents: each agency, purpose, the parts of her record and how long; she gives a
// new one here, or revokes any of them, and it stops at once.

import { useState } from "preact/hooks";
import { clients, failure, requestId, type CallFailure, type Session } from "../../api.js";
import { useLoad } from "../../async.js";
import { Failure, PageTitle, Show } from "../../components/common.js";
import { ConsentCategory, ConsentPurpose, ConsentState } from "../../gen/singlewindow/v1/citizen_service_pb.js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { useLang } from "../../i18n.js";
import { useAgencyName } from "../../names.js";
import { when } from "../../time.js";
import { CitizenNav } from "./nav.js";

type CitizenSession = Extract<Session, { kind: "citizen" }>;

export function Consents({ session }: { session: CitizenSession }) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const [loaded, reload] = useLoad(() => clients(session).citizens.listConsents({ parent: session.citizen, pageSize: 500 }), [session.citizen]);
  const [error, setError] = useState<CallFailure | null>(null);
  const revoke = async (name: string) => {
    setError(null);
    try {
      await clients(session).citizens.revokeConsent({ name });
      reload();
    } catch (err) {
      setError(failure(err));
    }
  };
  return (
    <>
      <PageTitle>{t.consentsTitle}</PageTitle>
      <CitizenNav path="/citizen/consents" />
      <p>{t.consentsIntro}</p>
      {error && <Failure failure={error} />}
      <GrantForm session={session} onGranted={reload} />
      <h2>{t.yourConsents}</h2>
      <Show loaded={loaded} onRetry={reload}>
        {(page) =>
          page.consents.length === 0 ? (
            <p>{t.noConsents}</p>
          ) : (
            <table>
              <caption class="visually-hidden">{t.consentsTitle}</caption>
              <thead>
                <tr>
                  <th scope="col">{t.grantee}</th>
                  <th scope="col">{t.purpose}</th>
                  <th scope="col">{t.categories}</th>
                  <th scope="col">{t.validUntil}</th>
                  <th scope="col">{t.state}</th>
                </tr>
              </thead>
              <tbody>
                {page.consents.map((c) => {
                  const active = c.state === ConsentState.ACTIVE;
                  return (
                    <tr key={c.name}>
                      <th scope="row">{agencyName(c.grantee)}</th>
                      <td>{t.consentPurpose[c.purpose]}</td>
                      <td>{c.categories.map((x) => t.consentCategory[x]).join(", ")}</td>
                      <td>{when(c.validUntil, lang) || "—"}</td>
                      <td>
                        {active ? (
                          <button type="button" class="danger" onClick={() => revoke(c.name)} aria-label={t.revoke(agencyName(c.grantee))}>
                            {t.revoke(agencyName(c.grantee))}
                          </button>
                        ) : (
                          `${t.revoked} ${when(c.revokeTime, lang)}`
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </Show>
    </>
  );
}

/** Agencies the demo's citizens deal with; a real portal lists the agencies it serves. */
const GRANTEES = ["agencies/esdc-edsc", "agencies/cra-arc", "agencies/cic"];
const PURPOSES = [
  ConsentPurpose.NOTIFY_OF_CHANGES,
  ConsentPurpose.PREFILL,
  ConsentPurpose.ELIGIBILITY_ASSESSMENT,
  ConsentPurpose.SERVICE_DELIVERY,
  ConsentPurpose.REFERRAL,
  ConsentPurpose.RECORD_MAINTENANCE,
];
const CATEGORIES = [
  ConsentCategory.CONTACT,
  ConsentCategory.ADDRESS,
  ConsentCategory.IDENTITY,
  ConsentCategory.PREFERENCES,
  ConsentCategory.ACCESSIBILITY,
  ConsentCategory.CIRCUMSTANCES,
  ConsentCategory.IDENTIFIERS,
];

function GrantForm({ session, onGranted }: { session: CitizenSession; onGranted: () => void }) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const [grantee, setGrantee] = useState(GRANTEES[0]);
  const [purpose, setPurpose] = useState(PURPOSES[0]);
  const [categories, setCategories] = useState<ConsentCategory[]>([ConsentCategory.ADDRESS]);
  const [until, setUntil] = useState("");
  const [error, setError] = useState<CallFailure | null>(null);
  const [done, setDone] = useState(false);
  const toggle = (c: ConsentCategory, on: boolean) => setCategories((s) => (on ? [...s, c] : s.filter((x) => x !== c)));
  const grant = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setDone(false);
    try {
      await clients(session).citizens.grantConsent({
        parent: session.citizen,
        consent: {
          grantee,
          purpose,
          categories: CATEGORIES.filter((c) => categories.includes(c)),
          validUntil: until ? timestampFromMs(Date.parse(`${until}T23:59:59`)) : undefined,
        },
        requestId: requestId(),
      });
      setDone(true);
      onGranted();
    } catch (err) {
      setError(failure(err));
    }
  };
  return (
    <section aria-labelledby="grant-title">
      <h2 id="grant-title">{t.grantTitle}</h2>
      <form onSubmit={grant}>
        <div class="field">
          <label for="grantee">{t.grantee}</label>
          <select id="grantee" value={grantee} onChange={(e) => setGrantee((e.target as HTMLSelectElement).value)}>
            {GRANTEES.map((a) => (
              <option key={a} value={a}>{agencyName(a)}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="purpose">{t.purpose}</label>
          <select id="purpose" value={purpose} onChange={(e) => setPurpose(Number((e.target as HTMLSelectElement).value))}>
            {PURPOSES.map((p) => (
              <option key={p} value={p}>{t.consentPurpose[p]}</option>
            ))}
          </select>
        </div>
        <fieldset class="checks">
          <legend>{t.categories}</legend>
          {CATEGORIES.map((c) => (
            <label key={c}>
              <input type="checkbox" checked={categories.includes(c)} onChange={(e) => toggle(c, (e.target as HTMLInputElement).checked)} />{" "}
              {t.consentCategory[c]}
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="until">{t.validUntilOptional}</label>
          <input id="until" type="date" value={until} onInput={(e) => setUntil((e.target as HTMLInputElement).value)} />
        </div>
        {error && <Failure failure={error} />}
        {done && <p class="notice notice-ok" role="status">{t.granted}</p>}
        <button type="submit">{t.grant}</button>
      </form>
    </section>
  );
}
