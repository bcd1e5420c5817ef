// Keyboard only: signing in, describing a need, choosing a service and sending the request with
// Tab, Enter, Space and the arrow keys, never the mouse; and every control reached shows a
// visible focus ring.

import { expect, test, type Page } from "@playwright/test";
import { baseUrl } from "./pages.js";

/** Presses Tab until the focused element has `name` as its text or label; checks its focus ring. */
async function tabTo(page: Page, name: string | RegExp) {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el) return { label: "", outline: "none" };
      const labels = (el as HTMLInputElement).labels;
      const labelled = labels && labels.length > 0 ? labels[0].textContent : null;
      const style = getComputedStyle(el);
      return { label: (labelled ?? el.textContent ?? "").trim(), outline: style.outlineStyle };
    });
    if (typeof name === "string" ? focused.label === name : name.test(focused.label)) {
      expect(focused.outline, `the focus on ${focused.label} is visible`).not.toBe("none");
      return;
    }
  }
  throw new Error(`Tab never reached ${name}`);
}

test("a citizen signs in, routes a need and sends a request from the keyboard alone", async ({ page }) => {
  await page.goto(`${baseUrl()}/`);
  await tabTo(page, "Sign in");
  await page.keyboard.press("Enter");
  await tabTo(page, "Sign in as Jordan Okafor");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1, name: "Hello, Jordan Okafor" })).toBeFocused();

  await tabTo(page, "Describe your need in your own words");
  await page.keyboard.type("I need to renew my passport before I travel");
  await tabTo(page, "Where did you start? (optional)");
  await page.keyboard.press("ArrowDown");
  await tabTo(page, "Find the right services");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Services that can help" })).toBeFocused();

  await tabTo(page, /^Ask for /);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: /^Ask for / })).toBeFocused();
  await tabTo(page, "Addresses");
  await page.keyboard.press("Space");
  await expect(page.getByLabel("Addresses")).toBeChecked();
  await tabTo(page, "Send my request");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1, name: "Your request" })).toBeFocused();
  await expect(page.getByText("Sent to the agency").first()).toBeVisible();
});
