// Pieces every page uses: the page heading (focused when the page changes, for screen readers),
// a call's failure with each bad field, and the loading line.

import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { CallFailure } from "../api.js";
import type { Loaded } from "../async.js";
import { useLang } from "../i18n.js";
import { hasNavigated } from "../router.js";

/** The page's heading; after a move to another page it takes the focus, so that a screen reader
 * announces the new page and the next Tab starts from it. */
export function PageTitle({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (hasNavigated()) ref.current?.focus();
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}

export function Failure({ failure, onRetry }: { failure: CallFailure; onRetry?: () => void }) {
  const { t } = useLang();
  return (
    <div class="notice notice-error" role="alert">
      <p>
        <strong>{t.callFailed}</strong> ({failure.reason}): {failure.message}
      </p>
      {failure.fields.length > 0 && (
        <ul>
          {failure.fields.map((f) => (
            <li key={f.field}>{t.fieldProblem(f.field, f.description)}</li>
          ))}
        </ul>
      )}
      {onRetry && (
        <button type="button" onClick={onRetry}>
          {t.retry}
        </button>
      )}
    </div>
  );
}

/** Shows `loaded`'s value with `render`, or its loading line or failure. */
export function Show<T>({
  loaded,
  onRetry,
  children,
}: {
  loaded: Loaded<T>;
  onRetry?: () => void;
  children: (value: T) => ComponentChildren;
}) {
  const { t } = useLang();
  if (loaded.state === "loading") {
    return (
      <p class="loading" role="status">
        {t.loading}
      </p>
    );
  }
  if (loaded.state === "failed") return <Failure failure={loaded.failure} onRetry={onRetry} />;
  return <>{children(loaded.value)}</>;
}
