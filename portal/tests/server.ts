// Starts the single-window binary for the browser tests: port 0, a fresh SQLite file in a
// temporary directory, demo mode (loopback, no principals file). Waits until gRPC health says
// SERVING (over gRPC-Web, as the pages call it), publishes the address as SINGLE_WINDOW_URL for
// the tests, and stops the server afterwards.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { Health, HealthCheckResponse_ServingStatus } from "../src/gen/grpc/health/v1/health_pb.js";

export default async function globalSetup() {
  const binary = resolve(process.env.SINGLE_WINDOW_BINARY ?? "../target/debug/single-window");
  const dir = mkdtempSync(join(tmpdir(), "single-window-browser-"));
  // Two respondents are enough to show a group, so that the tests see a rating withheld and then
  // shown once a second citizen rates the same service.
  const args = ["--listen", "127.0.0.1:0", "--database-url", `sqlite://${dir}/single-window.db`, "--minimum-respondents", "2"];
  const server = spawn(binary, args, {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: "info" },
  });
  let log = "";
  const address = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no address logged:\n${log}`)), 60_000);
    const read = (chunk: Buffer) => {
      log += chunk.toString();
      const found = /listening address=([0-9.:]+)/.exec(log);
      if (found) {
        clearTimeout(timer);
        done(found[1]);
      }
    };
    server.stdout.on("data", read);
    server.stderr.on("data", read);
    server.on("exit", (code) => fail(new Error(`the server exited (${code}):\n${log}`)));
  });
  const url = `http://${address}`;
  const health = createClient(Health, createGrpcWebTransport({ baseUrl: url }));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const status = await health.check({ service: "" }).then(
      (r) => r.status,
      () => undefined,
    );
    if (status === HealthCheckResponse_ServingStatus.SERVING) break;
    if (Date.now() > deadline) throw new Error(`the server never became SERVING:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  process.env.SINGLE_WINDOW_URL = url;
  return async () => {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  };
}
