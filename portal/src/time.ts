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
