// Tell us once: a common form prefilled from the citizen's record (each answer names its source),
// a submission the service refuses with the fields named in her language, then one it accepts.

import { expect, test } from "@playwright/test";
import { baseUrl, checkPage, watchConsole } from "./pages.js";

test("a common form is prefilled from the record, refused field by field, then accepted", async ({ page }) => {
  const console = watchConsole(page);
  await page.goto(`${baseUrl()}/#/sign-in`);
  await page.getByRole("button", { name: "Sign in as Jordan Okafor" }).click();
  await page.getByRole("link", { name: "Common forms" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Common forms" })).toBeVisible();
  await checkPage(page, "citizen-forms");
  await page.getByRole("link", { name: /change of address/i }).click();

  const given = page.getByLabel(/^Given name/);
  await expect(given).toHaveValue("Jordan");
  await expect(page.getByText(/^Filled in from your record: identity\./).first()).toBeVisible();
  await checkPage(page, "citizen-form-prefilled");

  // A Quebec postal code in Ontario, and a move far in the future.
  const address = page.getByRole("group", { name: /^Your new home address/ });
  await address.getByLabel("Street address").fill("200 Rideau Street");
  await address.getByLabel("City").fill("Ottawa");
  await address.getByLabel(/^Province or territory/).fill("ON");
  await address.getByLabel("Postal code").fill("H2X 1Y4");
  await page.getByLabel(/^Date you moved/).fill("2099-01-01");
  await page.getByRole("button", { name: "Submit" }).click();
  await expect(page.getByRole("alert")).toContainText("new_address");
  await expect(page.getByRole("alert")).toContainText("moved_on");
  await checkPage(page, "citizen-form-refused");

  await address.getByLabel("Postal code").fill("K1N 5Y3");
  await page.getByRole("group", { name: /^Should your mail go to another address/ }).getByLabel("No").check();
  await page.getByLabel(/^Date you moved/).fill(new Date().toISOString().slice(0, 10));
  await page.getByRole("button", { name: "Submit" }).click();
  await expect(page.getByRole("status").getByText(/^Submitted/)).toBeVisible();
  await checkPage(page, "citizen-form-submitted");
  console.assertClean();
});
