import { PageTitle } from "../components/common.js";
import { useLang } from "../i18n.js";

export function Home() {
  const { t } = useLang();
  return (
    <>
      <PageTitle>{t.homeTitle}</PageTitle>
      <p class="lead">{t.homeIntro}</p>
      <ul class="cards">
        <li class="card">
          <h2><a href="#/sign-in">{t.homeCitizen}</a></h2>
          <p>{t.homeCitizenText}</p>
        </li>
        <li class="card">
          <h2><a href="#/sign-in">{t.homeOfficer}</a></h2>
          <p>{t.homeOfficerText}</p>
        </li>
        <li class="card">
          <h2><a href="#/dashboard">{t.homeDashboard}</a></h2>
          <p>{t.homeDashboardText}</p>
        </li>
      </ul>
    </>
  );
}
