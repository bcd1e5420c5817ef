// Pages live in the URL's fragment (`#/dashboard`), so the server serves one page for all.

import { useEffect, useState } from "preact/hooks";

export function currentPath(): string {
  return window.location.hash.replace(/^#/, "") || "/";
}

let navigated = false;

/** Whether the person has moved from the page they loaded (then a new page takes the focus). */
export function hasNavigated(): boolean {
  return navigated;
}

export function useRoute(): string {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const changed = () => {
      navigated = true;
      setPath(currentPath());
    };
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return path;
}

export function go(path: string) {
  window.location.hash = path;
}
