import { defineConfig } from "@playwright/test";

// Browser tests of the portal against the real binary (tests/server.ts starts it on port 0 over a
// fresh SQLite file; SINGLE_WINDOW_BINARY names it), in the system's Chromium: nothing downloads a
// browser. `npm run test:browser`; tests/run.sh does the same from the repository's root.
export default defineConfig({
  testDir: "tests",
  testMatch: "*.spec.ts",
  timeout: 90_000,
  expect: { timeout: 15_000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [["list"]],
  globalSetup: "./tests/server.ts",
  outputDir: "test-results/output",
  use: {
    browserName: "chromium",
    headless: true,
    viewport: { width: 1280, height: 900 },
    locale: "en-CA",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      // A closed network: no background connections, no component updates, no sync.
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    screenshot: "only-on-failure",
  },
});
