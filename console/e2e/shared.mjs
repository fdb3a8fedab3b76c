// What the console's browser tests share: one fresh `crewhouse local`, one Chromium and the demo user's page,
// so the scenarios of every page (console.test.mjs, then e2e/scenarios/*.mjs in name order) start the cloud once.
import AxeBuilder from "@axe-core/playwright";
import assert from "node:assert/strict";
import { join } from "node:path";
import { DESKTOP, PHONE, SCREENSHOTS } from "./harness.mjs";

/** Filled by console.test.mjs: `local` (startLocal's answer), `browser`, and `page` (the demo user's, signed in by
 * the first test). */
export const shared = { local: undefined, browser: undefined, page: undefined };

export async function signIn(target, email, password) {
  await target.goto(shared.local.consoleUrl);
  await target.getByLabel("E-mail").fill(email);
  await target.getByLabel("Password").fill(password);
  await target.getByRole("button", { name: "Sign in" }).click();
  await target.getByRole("heading", { name: "Tasks" }).waitFor();
}

/** A screenshot at desktop and phone width, and no serious or critical axe-core violation at either. */
export async function checkPage(name) {
  const { page } = shared;
  for (const [width, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${width}.png`), fullPage: true });
    const { violations } = await new AxeBuilder({ page }).analyze();
    const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`), [], `${name} at ${width}`);
  }
  await page.setViewportSize(DESKTOP);
}

/**
 * Listens to the page's WebSockets from now on: `frames` gets each live-update event of `detailType` (through
 * `pick`), `traffic` every frame both ways for a failure message, and `stop()` ends the listening.
 */
export function eventFrames(page, detailType, pick = (frame) => frame) {
  const frames = [];
  const traffic = [];
  const onSocket = (socket) => {
    socket.on("framesent", ({ payload }) => traffic.push(`> ${String(payload).slice(0, 120)}`));
    socket.on("framereceived", ({ payload }) => {
      traffic.push(`< ${String(payload).slice(0, 120)}`);
      const frame = JSON.parse(String(payload));
      if (frame.type === "event" && frame.detail_type === detailType) frames.push(pick(frame));
    });
    socket.on("close", () => traffic.push("closed"));
  };
  page.on("websocket", onSocket);
  return { frames, traffic, stop: () => page.off("websocket", onSocket) };
}

/**
 * The API as the signed-in `target` page's user, for a scenario's setup that would be slow to click through (the
 * actions under test are still clicked in the page). The console keeps its ID token in memory only, so it is read
 * from the Authorization header of a request the page makes when it opens a page that reads data.
 */
export async function apiAs(target) {
  const bearer = target.waitForRequest((request) => /^Bearer /.test(request.headers().authorization ?? ""), { timeout: 15_000 });
  await target.goto(`${shared.local.consoleUrl}#/notes`);
  await target.goto(`${shared.local.consoleUrl}#/tasks`);
  const authorization = (await bearer).headers().authorization;
  return async function call(method, path, body) {
    const response = await fetch(`${shared.local.apiUrl}${path}`, {
      method,
      headers: { authorization, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}
