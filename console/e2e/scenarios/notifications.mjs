// The notifications bell: notifications sent to the demo user (POST /notifications, which a tenant's admin may call)
// raise its count live over the WebSocket without a reload; its panel, opened and closed with the keyboard, lists
// them; marking one read lowers the count and marking all read zeroes it. The header does not move as the count
// changes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { apiAs, checkPage, eventFrames, shared, signIn } from "../shared.mjs";

const unique = () => Math.random().toString(36).slice(2, 8);

function bell(page) {
  return page.getByRole("button", { name: /^Notifications, \d+ unread$/ });
}

async function count(page) {
  return Number((await bell(page).getAttribute("aria-label")).match(/(\d+) unread/)[1]);
}

async function showsCount(page, expected) {
  await page.getByRole("button", { name: `Notifications, ${expected} unread`, exact: true }).waitFor({ timeout: 20_000 });
}

/** Waits for the count to reach at least `least` (others' notifications, e.g. a job's that ended, may come too). */
async function countReaches(page, least) {
  for (let waited = 0; (await count(page)) < least && waited < 20_000; waited += 200) await page.waitForTimeout(200);
  const now = await count(page);
  assert.ok(now >= least, `the bell shows ${now}, expected at least ${least}`);
  return now;
}

test("a notification raises the bell's count live; the panel lists it, marks one read and then all", async () => {
  const { page } = shared;
  // From a new sign-in, so that the page's socket is one this test sees.
  const live = eventFrames(page, "notification.created", (frame) => frame.data.notification.title);
  const created = live.frames;
  await page.reload();
  await signIn(page, shared.local.demo.email, shared.local.demo.password);
  const call = await apiAs(page);
  const me = await call("GET", "/me");
  await bell(page).and(page.locator('[data-live="socket"]')).waitFor({ timeout: 15_000 });
  const before = await count(page);
  const width = (await bell(page).boundingBox()).width;
  let reloads = 0;
  const onLoad = () => (reloads += 1);
  page.on("load", onLoad);
  const titles = [`Invoice ready ${unique()}`, `Build passed ${unique()}`];
  try {
    for (const title of titles) {
      await call("POST", "/notifications", { recipient_id: me.user_id, category: "system", title, body: `About ${title}` });
    }
    await countReaches(page, before + 2);
    assert.equal(reloads, 0, "no reload");
    assert.ok(titles.every((title) => created.includes(title)), `notification.created frames: ${created}`);
  } finally {
    page.off("load", onLoad);
    live.stop();
  }
  assert.equal((await bell(page).boundingBox()).width, width, "the count took no more room");

  // Opened from the keyboard: focus goes into the panel, which lists both, newest first.
  await bell(page).focus();
  await page.keyboard.press("Enter");
  const panel = page.getByRole("dialog", { name: "Notifications" });
  await panel.waitFor();
  assert.equal(await panel.evaluate((element) => element === document.activeElement), true, "the panel has focus");
  const rows = panel.getByTestId("notification");
  await rows.filter({ hasText: titles[0] }).waitFor();
  await rows.filter({ hasText: titles[1] }).waitFor();
  await checkPage("notifications");

  const unread = await count(page);
  await panel.getByRole("button", { name: `Mark read: ${titles[0]}` }).click();
  await showsCount(page, unread - 1);
  await rows.filter({ hasText: titles[0] }).and(page.locator(".read")).waitFor();
  assert.equal(await panel.getByRole("button", { name: `Mark read: ${titles[1]}` }).count(), 1);

  // Escape closes it and gives the focus back to the bell.
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "detached" });
  assert.equal(await bell(page).evaluate((element) => element === document.activeElement), true, "focus back on the bell");

  await page.keyboard.press("Enter");
  await panel.waitFor();
  await panel.getByRole("button", { name: "Mark all read" }).click();
  await showsCount(page, 0);
  assert.equal(await panel.locator(".unread").count(), 0);
  assert.equal(await page.getByTestId("bell-count").evaluate((element) => getComputedStyle(element).visibility), "hidden");
  assert.equal((await bell(page).boundingBox()).width, width, "no jump when the count goes");
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "detached" });
});
