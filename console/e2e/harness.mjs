// Starts `crewhouse local` (a fresh, empty embedded cloud on free ports) and Debian's Chromium for the browser tests.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SCREENSHOTS = join(ROOT, "build", "console-e2e");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// What the machine's closed network needs: no first run, no background or component downloads, no QUIC.
const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
export const DESKTOP = { width: 1280, height: 800 };
// The files context's multipart sizes for this cloud (local only): files above 8 MiB upload in 5 MiB parts (S3's
// smallest), so scenarios/files.mjs sends a few MiB in parts instead of over 100 MiB.
export const MULTIPART = { thresholdMib: 8, partMib: 5 };
export const PHONE = { width: 390, height: 844 };

function listens(port) {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
  });
}

async function freePort() {
  const server = createServer();
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
}

/** A free port whose next one is free too: `crewhouse local` serves its WebSockets on the API port + 1. */
async function freePortPair() {
  for (;;) {
    const port = await freePort();
    if (port < 65535 && (await listens(port + 1))) return port;
  }
}

/** `crewhouse local --fresh --empty` on free ports; resolves once its banner is out, with what the banner says.
 * CONSOLE_E2E_API_URL=http://127.0.0.1:8000 uses a cloud that is already running instead (its demo user). */
export async function startLocal() {
  const running = process.env.CONSOLE_E2E_API_URL;
  if (running) {
    return {
      apiUrl: running,
      consoleUrl: `${running}/console/`,
      demo: { email: "demo@crewhouse.local", password: process.env.CONSOLE_E2E_PASSWORD ?? "Crewhouse-demo-2026!" },
      async stop() {},
    };
  }
  const port = await freePortPair();
  let awsPort = await freePort();
  while (awsPort === port + 1) awsPort = await freePort();
  const stateDir = mkdtempSync(join(tmpdir(), "crewhouse-console-e2e-"));
  const child = spawn(join(ROOT, ".venv", "bin", "crewhouse"),
    ["local", "--fresh", "--empty", "--port", String(port), "--aws-port", String(awsPort), "--state-dir", stateDir,
      "--multipart-threshold-mib", String(MULTIPART.thresholdMib), "--multipart-part-mib", String(MULTIPART.partMib)],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" } });
  let output = "";
  const banner = await new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`crewhouse local did not start in 240 s:\n${output}`)), 240_000);
    const read = (chunk) => {
      output += chunk;
      if (output.includes("Press Ctrl-C to stop.")) {
        clearTimeout(timer);
        done(output);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.once("exit", (code) => fail(new Error(`crewhouse local exited with ${code}:\n${output}`)));
  });
  const field = (name) => banner.match(new RegExp(`^\\s+${name}\\s+(\\S+)`, "m"))?.[1];
  return {
    apiUrl: `http://127.0.0.1:${port}`,
    consoleUrl: field("Web console"),
    demo: { email: field("Demo user"), password: field("Password") },
    async stop() {
      const exited = new Promise((done) => (child.exitCode !== null ? done() : child.once("exit", done)));
      child.kill("SIGTERM");
      const kill = setTimeout(() => child.kill("SIGKILL"), 20_000); // a shutdown that hangs must not hang the tests
      await exited;
      clearTimeout(kill);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export function launchChromium() {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

/** The newest code the local outbox holds for `address` (Cognito's sign-up and reset codes go there). */
export async function mailedCode(apiUrl, address) {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const outbox = await (await fetch(`${apiUrl}/_local/outbox?format=json&to=${encodeURIComponent(address)}`)).json();
    const code = outbox.mail.map((mail) => String(mail.body ?? "").match(/\b(\d{6})\b/)?.[1]).find(Boolean);
    if (code) return code;
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`no code mailed to ${address}`);
}
