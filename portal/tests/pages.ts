// What every browser test checks on every page it visits: no accessibility violation that
// axe-core finds against WCAG 2.1 A and AA, no error in the console (a CSP refusal is one), and a
// screenshot kept under test-results/screenshots/.

import { expect, type Page } from "@playwright/test";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export function baseUrl(): string {
  const url = process.env.SINGLE_WINDOW_URL;
  if (!url) throw new Error("SINGLE_WINDOW_URL is not set: run through playwright.config.ts");
  return url;
}

/** Collects console errors and failed page loads; `assertClean` fails the test if any came. */
export function watchConsole(page: Page) {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return {
    assertClean() {
      expect(errors, "console errors").toEqual([]);
    },
  };
}

/** Runs axe-core on the page as it is now and fails on any violation; then takes a screenshot. */
export async function checkPage(page: Page, name: string) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () => {
    // @ts-expect-error axe is the global the source above defines.
    const r = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
      resultTypes: ["violations"],
    });
    return r.violations.map((v: { id: string; help: string; nodes: { target: string[] }[] }) => ({
      id: v.id,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")),
    }));
  });
  expect(results, `axe-core violations on ${name}`).toEqual([]);
  await page.screenshot({ path: `test-results/screenshots/${name}.png`, fullPage: true });
}
