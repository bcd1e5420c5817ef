import { SubNav } from "../../components/subnav.js";
import { useLang } from "../../i18n.js";

/** The desk's pages, on each of them. */
export function DeskNav({ path }: { path: string }) {
  const { t } = useLang();
  return (
    <SubNav
      label={t.deskNav}
      path={path}
      links={[
        ["/desk", t.navQueue],
        ["/desk/report", t.navReport],
      ]}
    />
  );
}
