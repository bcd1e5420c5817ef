import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { dateTime, type Lang } from "./i18n.js";

/** A timestamp in words, or an empty string when it is unset. */
export function when(ts: Timestamp | undefined, lang: Lang): string {
  return ts ? dateTime(timestampMs(ts), lang) : "";
}

/** The id part of a resource name (`requests/01ab` → `01ab`). */
export function idOf(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

/** The calendar quarter of `now` (`2026Q4`) and the `count - 1` before it, newest first. */
export function quarters(count = 4, now = new Date()): string[] {
  const list = [];
  let year = now.getFullYear();
  let q = Math.floor(now.getMonth() / 3) + 1;
  for (let i = 0; i < count; i++) {
    list.push(`${year}Q${q}`);
    q -= 1;
    if (q === 0) {
      q = 4;
      year -= 1;
    }
  }
  return list;
}
