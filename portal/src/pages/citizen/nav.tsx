import { SubNav } from "../../components/subnav.js";
import { useLang } from "../../i18n.js";

/** The citizen's pages, on each of them. */
export function CitizenNav({ path }: { path: string }) {
  const { t } = useLang();
  return (
    <SubNav
      label={t.citizenNav}
      path={path}
      links={[
        ["/citizen", t.navRequests],
        ["/citizen/consents", t.navConsents],
        ["/citizen/log", t.navLog],
        ["/citizen/forms", t.navForms],
      ]}
    />
  );
}
