import { useLang } from "../../i18n.js";

/** The citizen's pages, on each of them. */
export function CitizenNav({ path }: { path: string }) {
  const { t } = useLang();
  const links: [string, string][] = [
    ["/citizen", t.navRequests],
    ["/citizen/consents", t.navConsents],
    ["/citizen/log", t.navLog],
    ["/citizen/forms", t.navForms],
  ];
  return (
    <nav aria-label={t.citizenNav} class="subnav">
      <ul>
        {links.map(([href, label]) => (
          <li key={href}>
            <a href={`#${href}`} aria-current={path === href ? "page" : undefined}>
              {label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
