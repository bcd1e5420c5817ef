// The citizen's consents: each agency, purpose, the parts of her record and how long; she revokes
// any of them here, and it stops at once.

import { useState } from "preact/hooks";
import { clients, failure, type CallFailure, type Session } from "../../api.js";
import { useLoad } from "../../async.js";
import { Failure, PageTitle, Show } from "../../components/common.js";
import { ConsentState } from "../../gen/singlewindow/v1/citizen_service_pb.js";
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
