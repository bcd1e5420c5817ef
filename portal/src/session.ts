// The signed-in person, kept for this browser tab only (sessionStorage): closing the tab signs out.

import { useEffect, useState } from "preact/hooks";
import type { Session } from "./api.js";

const KEY = "single-window.session";
const listeners = new Set<(s: Session | null) => void>();

export function currentSession(): Session | null {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Session;
  } catch {
    return null;
  }
}

export function setSession(session: Session | null) {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
  listeners.forEach((l) => l(session));
}

export function useSession(): Session | null {
  const [session, set] = useState(currentSession);
  useEffect(() => {
    listeners.add(set);
    return () => listeners.delete(set);
  }, []);
  return session;
}
