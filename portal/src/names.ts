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

const services = new Map<string, Promise<LocalizedText | undefined>>();

/** A function naming services (`services/1003` → its name in `lang`; the id until it loads). */
export function useServiceName(lang: Lang): (service: string) => string {
  const [names, setNames] = useState<Map<string, LocalizedText>>(new Map());
  const known = (service: string) => {
    if (!services.has(service)) {
      services.set(
        service,
        clients(null)
          .catalog.getService({ name: service })
          .then((s) => s.displayName, () => undefined),
      );
    }
    services.get(service)!.then((name) => {
      if (name && !names.has(service)) setNames((m) => new Map(m).set(service, name));
    });
  };
  return (service: string) => {
    const name = names.get(service);
    if (!name) known(service);
    return name ? loc(name, lang) : service;
  };
}
