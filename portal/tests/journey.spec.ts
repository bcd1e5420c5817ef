// The whole journey in the browser: a citizen's need reaches the wrong door (she started at CRA),
// is routed to ESDC, and is followed to a completed, rated request; an ESDC officer's desk
// updates live (WatchAssignments over gRPC-Web) as it arrives, and the officer accepts and
// completes it; the dashboard withholds the rating until a second citizen's makes the group big
// enough, then shows it. Every page is checked with axe-core and photographed.

import { expect, test, type Browser, type Page } from "@playwright/test";
import { baseUrl, checkPage, watchConsole } from "./pages.js";

const NEED = "I was laid off, how do I get money while I look for work";

async function signIn(browser: Browser, who: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${baseUrl()}/#/sign-in`);
  await page.getByRole("button", { name: `Sign in as ${who}` }).click();
  return page;
}

/** The citizen describes her need, says she started at CRA, picks Employment Insurance and sends. */
async function askForEmploymentInsurance(page: Page, shots: string | null) {
  await page.getByLabel("Describe your need in your own words").fill(NEED);
  await page.getByLabel("Where did you start? (optional)").selectOption({ label: "Canada Revenue Agency" });
  await page.getByRole("button", { name: "Find the right services" }).click();
  const candidates = page.getByRole("heading", { name: "Services that can help" });
  await expect(candidates).toBeVisible();
  const ask = page.getByRole("button", { name: /^Ask for Employment Insurance/ }).first();
  await expect(ask).toBeVisible();
  if (shots) await checkPage(page, `${shots}-candidates`);
  await ask.click();
  await expect(page.getByRole("heading", { name: "Before you send" })).toBeVisible();
  await expect(page.getByText(/you consent to share your words, your note and the parts of your record below with Employment and Social Development Canada/)).toBeVisible();
  await page.getByLabel("Addresses").check();
  if (shots) await checkPage(page, `${shots}-consent`);
  await page.getByRole("button", { name: "Send my request" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Your request" })).toBeVisible();
  await expect(page.getByText("Sent to the agency")).toBeVisible();
}

/** The officer accepts and completes the request's leg from the desk. */
async function acceptAndComplete(desk: Page) {
  const leg = desk.getByRole("listitem").filter({ has: desk.getByRole("heading", { name: NEED }) });
  await leg.getByRole("button", { name: "Accept" }).click();
  await expect(leg.getByText("Accepted", { exact: true })).toBeVisible();
  await leg.getByRole("button", { name: "Complete" }).click();
  await leg.getByLabel("Outcome").selectOption({ label: "Delivered" });
  await leg.getByLabel("What you tell the citizen").fill("Your claim is approved; your first payment follows within 28 days.");
  await leg.getByRole("button", { name: "Confirm" }).click();
  await expect(leg).toHaveCount(0);
}

/** The citizen reloads her request, sees the leg completed and rates it. */
async function rate(page: Page, shots: string | null) {
  await page.reload();
  await expect(page.getByText("Completed").first()).toBeVisible();
  const form = page.getByRole("form", { name: /^Rate this step/ });
  await expect(form).toBeVisible();
  const scores: [RegExp, string][] = [
    [/I am satisfied with the service I received/, "5"],
    [/increased my confidence/, "4"],
    [/My need was addressed/, "5"],
    [/easy to complete/, "4"],
    [/reasonable amount of time/, "5"],
  ];
  for (const [statement, score] of scores) {
    await form.getByRole("group", { name: statement }).getByLabel(score, { exact: true }).check();
  }
  if (shots) await checkPage(page, `${shots}-rating`);
  await form.getByRole("button", { name: "Send my rating" }).click();
  await expect(page.getByText("You rated this step.")).toBeVisible();
}

test("a wrong-door need becomes a completed, rated request while the desk updates live", async ({ browser }) => {
  const desk = await signIn(browser, "agencies/esdc-edsc/teams/ei-benefits");
  const deskConsole = watchConsole(desk);
  await expect(desk.getByRole("heading", { level: 1, name: /Employment and Social Development Canada: your queue/ })).toBeVisible();
  await expect(desk.getByText("Connected: changes appear as they happen.")).toBeVisible();
  await checkPage(desk, "desk-empty");

  const amelie = await signIn(browser, "Amélie Tremblay");
  const citizenConsole = watchConsole(amelie);
  await expect(amelie.getByRole("heading", { level: 1, name: "Hello, Amélie Tremblay" })).toBeVisible();
  await checkPage(amelie, "citizen-home");
  await askForEmploymentInsurance(amelie, "citizen");
  await expect(amelie.getByText(/^You started at Canada Revenue Agency, which does not deliver this service/)).toBeVisible();
  await checkPage(amelie, "citizen-request-offered");

  // The desk learns of the new leg from its stream, without a reload.
  await expect(desk.getByRole("log", { name: "Live updates" }).getByText(/^Sent to the agency: requests\//)).toBeVisible();
  await expect(desk.getByRole("heading", { name: NEED })).toBeVisible();
  await checkPage(desk, "desk-offered");
  await acceptAndComplete(desk);
  await expect(desk.getByRole("log", { name: "Live updates" }).getByText(/^Completed: requests\//)).toBeVisible();

  await rate(amelie, "citizen");
  await checkPage(amelie, "citizen-request-rated");

  // Both languages on the same page.
  await amelie.getByRole("button", { name: "Afficher cette page en français" }).click();
  await expect(amelie.getByRole("heading", { level: 1, name: "Votre demande" })).toBeVisible();
  await expect(amelie.getByText("Vous avez évalué cette étape.")).toBeVisible();
  await checkPage(amelie, "citizen-request-rated-fr");
  await amelie.getByRole("button", { name: "Show this page in English" }).click();

  await desk.getByRole("link", { name: "Satisfaction report" }).click();
  await expect(desk.getByRole("heading", { level: 1, name: /satisfaction$/ })).toBeVisible();
  await checkPage(desk, "desk-report");
  deskConsole.assertClean();
  citizenConsole.assertClean();
});

test("the citizen gives and revokes a consent, then reads both in her access log, verified in the browser", async ({ browser }) => {
  const amelie = await signIn(browser, "Amélie Tremblay");
  const console = watchConsole(amelie);
  await amelie.getByRole("link", { name: "Your consents" }).click();
  await expect(amelie.getByRole("heading", { level: 1, name: "Your consents" })).toBeVisible();
  await amelie.getByLabel("Agency").selectOption({ label: "Employment and Social Development Canada" });
  await amelie.getByLabel("Purpose").selectOption({ label: "Being told when your record changes" });
  await amelie.getByRole("button", { name: "Give this consent" }).click();
  await expect(amelie.getByRole("status").getByText(/^Your consent is recorded/)).toBeVisible();
  const revoke = amelie.getByRole("button", { name: "Revoke the consent of Employment and Social Development Canada" });
  await expect(revoke).toBeVisible();
  await checkPage(amelie, "citizen-consents");
  await revoke.click();
  await expect(revoke).toHaveCount(0);
  await expect(amelie.getByRole("cell", { name: /^Revoked/ })).toBeVisible();

  await amelie.getByRole("link", { name: "Who looked at your record" }).click();
  await expect(amelie.getByRole("status").getByText(/^Verified: the checkpoint is signed by the log's key/)).toBeVisible();
  await expect(amelie.getByRole("cell", { name: "Opened a request" }).first()).toBeVisible();
  await expect(amelie.getByRole("cell", { name: /^Recorded a consent/ }).first()).toBeVisible();
  await expect(amelie.getByRole("cell", { name: /^Revoked a consent/ }).first()).toBeVisible();
  await checkPage(amelie, "citizen-access-log");
  // A second visit checks that the log only grew since the checkpoint this browser kept.
  await amelie.reload();
  await expect(amelie.getByText(/^The log only grew since your last visit/)).toBeVisible();
  console.assertClean();
});

test("the dashboard withholds a rating until a second respondent, then shows it", async ({ browser }) => {
  const visitor = await (await browser.newContext()).newPage();
  const console = watchConsole(visitor);
  await visitor.goto(`${baseUrl()}/#/dashboard`);
  const row = visitor
    .getByRole("table", { name: "Satisfaction with each service" })
    .getByRole("row")
    .filter({ has: visitor.getByRole("rowheader", { name: /^Employment Insurance/ }) });
  await expect(row.getByText("Withheld: Too few respondents")).toBeVisible();
  const wrongDoor = visitor
    .getByRole("table", { name: "Decline rate of the requests handed from one agency to another" })
    .getByRole("row")
    .filter({ has: visitor.getByRole("rowheader", { name: "Canada Revenue Agency" }) });
  await expect(wrongDoor.getByText("Withheld: Too few respondents")).toBeVisible();
  await checkPage(visitor, "dashboard-withheld");

  // Jordan goes through the same journey; the ESDC desk completes it.
  const desk = await signIn(browser, "agencies/esdc-edsc/teams/ei-benefits");
  const jordan = await signIn(browser, "Jordan Okafor");
  await askForEmploymentInsurance(jordan, null);
  await expect(desk.getByRole("heading", { name: NEED })).toBeVisible();
  await acceptAndComplete(desk);
  await rate(jordan, null);

  await visitor.reload();
  await expect(row.getByText("Withheld: Too few respondents")).toHaveCount(0);
  await expect(row.getByRole("cell", { name: "2", exact: true })).toBeVisible();
  await expect(visitor.getByRole("img", { name: /Mean score on each driver for Employment Insurance/ })).toBeVisible();
  // Both requests CRA handed to ESDC were answered, none declined.
  await expect(wrongDoor.getByRole("cell")).toHaveText(["Employment and Social Development Canada", "2", "0", "0%"]);
  await expect(visitor.getByRole("heading", { name: "Service standards: published and live" })).toBeVisible();
  await checkPage(visitor, "dashboard");
  console.assertClean();
});
