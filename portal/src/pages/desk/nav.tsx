import { useLang } from "../../i18n.js";

/** The desk's pages, on each of them. */
export function DeskNav({ path }: { path: string }) {
  const { t } = useLang();
  const links: [string, string][] = [
    ["/desk", t.navQueue],
    ["/desk/report", t.navReport],
  ];
  return (
    <nav aria-label={t.deskNav} class="subnav">
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
