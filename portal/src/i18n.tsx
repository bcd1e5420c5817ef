// English and French, switchable on every page: one dictionary per language with the same keys
// (TypeScript refuses a key missing from either), and formatting in the language's locale.

import { createContext, type ComponentChildren } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import type { LocalizedText } from "./gen/singlewindow/v1/types_pb.js";
import { en, fr, type Messages } from "./messages.js";

export type Lang = "en" | "fr";

interface LangState {
  lang: Lang;
  setLang: (lang: Lang) => void;
  t: Messages;
}

const LangContext = createContext<LangState>({ lang: "en", setLang: () => {}, t: en });

const STORAGE_KEY = "single-window.lang";

function initialLang(): Lang {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored === "en" || stored === "fr") return stored;
  return navigator.language.toLowerCase().startsWith("fr") ? "fr" : "en";
}

export function LangProvider({ children }: { children: ComponentChildren }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  const setLang = (next: Lang) => {
    localStorage.setItem(STORAGE_KEY, next);
    setLangState(next);
  };
  return (
    <LangContext.Provider value={{ lang, setLang, t: lang === "fr" ? fr : en }}>
      {children}
    </LangContext.Provider>
  );
}

export function useLang(): LangState {
  return useContext(LangContext);
}

/** Text the service holds in both languages, in `lang` (the other one when it is empty). */
export function loc(text: LocalizedText | undefined, lang: Lang): string {
  if (!text) return "";
  return (lang === "fr" ? text.fr || text.en : text.en || text.fr) ?? "";
}

export function locale(lang: Lang): string {
  return lang === "fr" ? "fr-CA" : "en-CA";
}

export function percent(value: number | undefined, lang: Lang): string {
  if (value === undefined || Number.isNaN(value)) return "—";
  return new Intl.NumberFormat(locale(lang), { style: "percent", maximumFractionDigits: 0 }).format(value);
}

export function decimal(value: number, lang: Lang, digits = 1): string {
  return new Intl.NumberFormat(locale(lang), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}

export function dateTime(millis: number, lang: Lang): string {
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: "medium", timeStyle: "short" }).format(new Date(millis));
}
