import { expect, test } from "@playwright/test";
import { baseUrl, checkPage, watchConsole } from "./pages.js";

test("the home page offers the three ways in and passes axe-core", async ({ page }) => {
  const console = watchConsole(page);
  await page.goto(`${baseUrl()}/`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Find the right service, wherever you start");
  await expect(page.getByRole("link", { name: "Public dashboard" }).first()).toBeVisible();
  await checkPage(page, "home");
  console.assertClean();
});

test("the dashboard reads the public report without signing in, in English and in French", async ({ page }) => {
  const console = watchConsole(page);
  await page.goto(`${baseUrl()}/#/dashboard`);
  await expect(page.getByRole("heading", { level: 1, name: "Public dashboard" })).toBeVisible();
  await expect(page.getByText(/Figures from fewer than \d+ respondents are withheld/)).toBeVisible();
  await expect(page.getByRole("heading", { name: "You said, we did" })).toBeVisible();
  await checkPage(page, "dashboard-empty");

  await page.getByRole("button", { name: "Afficher cette page en français" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Tableau de bord public" })).toBeVisible();
  await expect(page.locator("html")).toHaveAttribute("lang", "fr");
  await checkPage(page, "dashboard-empty-fr");
  console.assertClean();
});

test("the skip link and the navigation work from the keyboard alone", async ({ page }) => {
  await page.goto(`${baseUrl()}/`);
  await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: "Skip to main content" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.locator("main")).toBeFocused();
  // The navigation's dashboard link, reached by tabbing from the top.
  await page.keyboard.press("Shift+Tab");
  for (let i = 0; i < 10; i++) {
    const focused = await page.evaluate(() => document.activeElement?.textContent ?? "");
    if (focused === "Public dashboard") break;
    await page.keyboard.press("Shift+Tab");
  }
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1, name: "Public dashboard" })).toBeFocused();
});
