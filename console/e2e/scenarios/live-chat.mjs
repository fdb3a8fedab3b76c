// Live chat: a turn's tool call reaches the conversation from its `chat.tool_call` WebSocket frame while the turn's
// HTTP response is held, then the stored reply takes its place without showing the call twice, and the task the tool
// made is on the tasks page; without a WebSocket URL the chat shows the calls when the reply returns, as before (and
// the notifications bell polls).
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkPage, eventFrames, shared, signIn } from "../shared.mjs";

const SEND = /\/chat\/sessions\/[^/]+\/messages$/;
const unique = () => Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");

function tomorrow() {
  return new Date(Date.now() + 86_400_000 - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
}

test("a chat turn's tool call shows from its WebSocket frame before the turn's response returns", async () => {
  const { page } = shared;
  const title = `buy oat milk ${unique()}`;
  const live = eventFrames(page, "chat.tool_call");
  const { frames, traffic } = live; // traffic: what the page's socket said and heard, for the failure message
  // The turn runs on the server at once (route.fetch); only its answer to the page waits for `release`.
  let release;
  const released = new Promise((done) => (release = done));
  let answered = false;
  let delivered = Promise.resolve();
  const hold = async (route) => {
    if (route.request().method() !== "POST" || !SEND.test(new URL(route.request().url()).pathname)) return route.continue();
    delivered = (async () => {
      const response = await route.fetch();
      await released;
      answered = true;
      await route.fulfill({ response });
    })();
    await delivered;
  };
  try {
    await page.reload();
    await signIn(page, shared.local.demo.email, shared.local.demo.password);
    await page.route("**/chat/sessions/**", hold);
    await page.goto(`${shared.local.consoleUrl}#/chat`);
    await page.getByRole("heading", { name: "Chat" }).waitFor();
    await page.getByLabel("Message").fill(`add ${title} tomorrow`);
    await page.getByRole("button", { name: "Send" }).click();

    const pending = page.getByTestId("pending-reply");
    const liveRow = pending.locator('.tool-call[data-live="socket"]', { hasText: "create_task" });
    await liveRow.waitFor({ timeout: 30_000 }).catch((error) => {
      throw new Error(`${error.message}\nsocket:\n${traffic.join("\n")}`);
    });
    assert.equal(answered, false, "the row came before the turn's response");
    assert.ok(frames.length >= 1, "a chat.tool_call frame arrived");
    assert.equal(frames[0].data.tool_call.name, "create_task");
    await liveRow.locator(".tool-args", { hasText: title }).waitFor(); // the arguments' summary
    await liveRow.locator(".tool-status", { hasText: "done" }).waitFor();
    await liveRow.locator("summary").click(); // the call's input and result, opened with a click
    await liveRow.locator("pre", { hasText: '"result"' }).waitFor();
    await checkPage("live-chat-running");
  } finally {
    release();
    await delivered; // answered before the route goes
    await page.unroute("**/chat/sessions/**", hold);
    live.stop();
  }

  const reply = page.locator(".message.assistant:not(.pending)", { hasText: title });
  await reply.waitFor({ timeout: 30_000 });
  await page.getByTestId("pending-reply").waitFor({ state: "detached" });
  assert.equal(await page.locator(".tool-call", { hasText: title }).count(), 1, "the call shows once");
  await checkPage("live-chat");

  await page.goto(`${shared.local.consoleUrl}#/tasks`);
  await page.getByLabel("Day").fill(tomorrow());
  await page.locator(".task", { hasText: title }).first().waitFor();
});

test("without a WebSocket URL the chat shows the turn's tool calls when its reply returns", async () => {
  const { page } = shared;
  const title = `post the parcel ${unique()}`;
  await page.route("**/config.json", async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, json: { ...(await response.json()), websocketUrl: null } });
  });
  try {
    await page.reload();
    await signIn(page, shared.local.demo.email, shared.local.demo.password);
    await page.goto(`${shared.local.consoleUrl}#/chat`);
    await page.getByLabel("Message").fill(`add ${title} tomorrow`);
    await page.getByRole("button", { name: "Send" }).click();
    await page.locator(".message.assistant:not(.pending)", { hasText: title }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator(".tool-call", { hasText: title }).count(), 1);
    assert.equal(await page.locator('.tool-call[data-live="socket"]').count(), 0);
    // The bell has no socket either: it reads its count by polling.
    await page.getByRole("button", { name: /^Notifications, \d+ unread$/ }).and(page.locator('[data-live="polling"]')).waitFor();
  } finally {
    await page.unroute("**/config.json");
    await page.reload();
    await signIn(page, shared.local.demo.email, shared.local.demo.password);
  }
});
