// Agency names for the pages, read once from the catalogue (it is public and rarely changes).

import { useEffect, useState } from "preact/hooks";
import { clients } from "./api.js";
import type { LocalizedText } from "./gen/singlewindow/v1/types_pb.js";
import { loc, type Lang } from "./i18n.js";

let agencies: Promise<Map<string, LocalizedText>> | null = null;

async function loadAgencies(): Promise<Map<string, LocalizedText>> {
  const { catalog } = clients(null);
  const names = new Map<string, LocalizedText>();
  let pageToken = "";
  do {
    const page = await catalog.listAgencies({ pageSize: 500, pageToken });
    for (const a of page.agencies) if (a.displayName) names.set(a.name, a.displayName);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return names;
}

/** A function naming agencies (`agencies/cic` → its name in `lang`; the id until names load). */
export function useAgencyName(lang: Lang): (agency: string) => string {
  const [names, setNames] = useState<Map<string, LocalizedText> | null>(null);
  useEffect(() => {
    agencies ??= loadAgencies();
    agencies.then(setNames, () => (agencies = null));
  }, []);
  return (agency: string) => {
    const id = agency.split("/teams/")[0];
    const name = names?.get(id);
    return name ? loc(name, lang) : id.replace(/^agencies\//, "");
  };
}
