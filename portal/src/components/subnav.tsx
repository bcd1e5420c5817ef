/** A section's own pages (the citizen's space, the desk), on each of them. */
export function SubNav({ label, links, path }: { label: string; links: [string, string][]; path: string }) {
  return (
    <nav aria-label={label} class="subnav">
      <ul>
        {links.map(([href, text]) => (
          <li key={href}>
            <a href={`#${href}`} aria-current={path === href ? "page" : undefined}>
              {text}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
