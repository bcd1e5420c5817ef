// The application: the frame every page shares (skip link, header with the language switch and
// sign-in state, navigation), and the page the URL's fragment names.

import { LangProvider, useLang } from "./i18n.js";
import { useRoute } from "./router.js";
import { setSession, useSession } from "./session.js";
import { Home } from "./pages/home.js";
import { SignIn } from "./pages/signin.js";
import { Dashboard } from "./pages/dashboard.js";
import { CitizenHome } from "./pages/citizen/home.js";
import { RequestPage } from "./pages/citizen/request.js";
import { Consents } from "./pages/citizen/consents.js";
import { AccessLog } from "./pages/citizen/log.js";
import { FormList, FormPage } from "./pages/citizen/forms.js";
import { Queue } from "./pages/desk/queue.js";
import { Report } from "./pages/desk/report.js";
import type { Session } from "./api.js";

export function App() {
  return (
    <LangProvider>
      <Frame />
    </LangProvider>
  );
}

function Frame() {
  const { t, lang, setLang } = useLang();
  const session = useSession();
  const path = useRoute();
  const who = session?.kind === "citizen" ? session.name : session?.kind === "officer" ? session.principal : null;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        {t.skipToContent}
      </a>
      <header class="site-header">
        <div class="bar">
          <a class="brand" href="#/">
            {t.siteName}
            <span class="tagline">{t.tagline}</span>
          </a>
          <button
            type="button"
            class="link-button"
            lang={lang === "en" ? "fr" : "en"}
            aria-label={t.switchLanguageLabel}
            onClick={() => setLang(lang === "en" ? "fr" : "en")}
          >
            {t.switchLanguage}
          </button>
        </div>
        <nav aria-label={t.mainNavigation}>
          <ul>
            <li><a href="#/" aria-current={path === "/" ? "page" : undefined}>{t.navHome}</a></li>
            <li><a href="#/dashboard" aria-current={path === "/dashboard" ? "page" : undefined}>{t.navDashboard}</a></li>
            {session === null ? (
              <li><a href="#/sign-in" aria-current={path === "/sign-in" ? "page" : undefined}>{t.navSignIn}</a></li>
            ) : (
              <>
                <li>
                  <a href={session.kind === "citizen" ? "#/citizen" : "#/desk"} aria-current={path.startsWith("/citizen") || path.startsWith("/desk") ? "page" : undefined}>
                    {session.kind === "citizen" ? t.citizenNav : t.deskNav}
                  </a>
                </li>
                <li class="who">{t.signedInAs(who ?? "")}</li>
                <li>
                  <button type="button" class="link-button" onClick={() => { setSession(null); window.location.hash = "/"; }}>
                    {t.navSignOut}
                  </button>
                </li>
              </>
            )}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} session={session} />
      </main>
    </>
  );
}

/** The page at `path`; a citizen's or an officer's page asks whoever is not signed in as one to
 * sign in. */
function Page({ path, session }: { path: string; session: Session | null }) {
  if (path === "/sign-in") return <SignIn />;
  if (path === "/dashboard") return <Dashboard />;
  if (path.startsWith("/citizen")) {
    if (session?.kind !== "citizen") return <SignIn />;
    const request = /^\/citizen\/requests\/([A-Za-z0-9_-]+)$/.exec(path);
    if (request) return <RequestPage key={request[1]} session={session} id={request[1]} />;
    if (path === "/citizen/consents") return <Consents session={session} />;
    if (path === "/citizen/log") return <AccessLog session={session} />;
    if (path === "/citizen/forms") return <FormList session={session} />;
    const form = /^\/citizen\/forms\/([a-z0-9-]+)$/.exec(path);
    if (form) return <FormPage key={form[1]} session={session} id={form[1]} />;
    return <CitizenHome session={session} />;
  }
  if (path.startsWith("/desk")) {
    if (session?.kind !== "officer") return <SignIn />;
    if (path === "/desk/report") return <Report session={session} />;
    return <Queue session={session} />;
  }
  return <Home />;
}
