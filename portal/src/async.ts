// Loading data for a page: the call's state, and a way to run it again.

import { useCallback, useEffect, useState } from "preact/hooks";
import { failure, type CallFailure } from "./api.js";

export type Loaded<T> =
  | { state: "loading" }
  | { state: "failed"; failure: CallFailure }
  | { state: "ready"; value: T };

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [Loaded<T>, () => void] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: "loading" });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setLoaded({ state: "loading" });
    load().then(
      (value) => live && setLoaded({ state: "ready", value }),
      (error) => live && setLoaded({ state: "failed", failure: failure(error) }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return [loaded, reload];
}
