// Sign-in through the demo identity provider: its list of demo citizens (with a token each) and
// demo agency officers (with their team's key). A server without it says so.

import { demoCredentials, type DemoLine } from "../api.js";
import { useLoad } from "../async.js";
import { PageTitle, Show } from "../components/common.js";
import { useLang } from "../i18n.js";
import { go } from "../router.js";
import { setSession } from "../session.js";

export function SignIn() {
  const { t } = useLang();
  const [loaded, reload] = useLoad(demoCredentials, []);
  return (
    <>
      <PageTitle>{t.signInTitle}</PageTitle>
      <Show loaded={loaded} onRetry={reload}>
        {(lines) => (lines === null ? <p class="notice">{t.signInUnavailable}</p> : <Choices lines={lines} />)}
      </Show>
    </>
  );
}

function Choices({ lines }: { lines: DemoLine[] }) {
  const { t } = useLang();
  const citizens = lines.filter((l) => l.kind === "portal" && l.citizen && l.citizen_token);
  const officers = lines.filter((l) => l.kind === "agency");
  return (
    <>
      <p>{t.signInIntro}</p>
      <h2>{t.signInCitizens}</h2>
      <ul class="choices">
        {citizens.map((c) => (
          <li key={c.citizen}>
            <button
              type="button"
              onClick={() => {
                setSession({
                  kind: "citizen",
                  portalKey: c.token,
                  citizenToken: c.citizen_token!,
                  citizen: c.citizen!,
                  name: c.citizen_name ?? c.citizen!,
                });
                go("/citizen");
              }}
            >
              {t.signInAs(c.citizen_name ?? c.citizen!)}
            </button>
          </li>
        ))}
      </ul>
      <h2>{t.signInOfficers}</h2>
      <ul class="choices">
        {officers.map((o) => (
          <li key={o.principal}>
            <button
              type="button"
              onClick={() => {
                setSession({ kind: "officer", key: o.token, principal: o.principal });
                go("/desk");
              }}
            >
              {t.signInAs(o.principal)}
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}
