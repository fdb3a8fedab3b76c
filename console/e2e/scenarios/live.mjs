// Live updates: a content job's progress reaches the page over the realtime WebSocket while its reads are held, and
// still reaches 100 % by polling when the console has no WebSocket URL; reminders edited in the task panel.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventFrames, shared, signIn } from "../shared.mjs";

const JOB_READ = /\/jobs\/(?!types$)[^/?]+$/;

async function runContentJob(page) {
  await page.goto(`${shared.local.consoleUrl}#/jobs`);
  await page.getByLabel("Type").selectOption("content");
  await page.getByRole("textbox", { name: /^Brief/ }).fill("Live post about heat pumps");
  await page.getByRole("button", { name: "Run" }).click();
}

test("a content job's progress reaches the page over the WebSocket while its reads are held", async () => {
  const { page } = shared;
  const live = eventFrames(page, "job.progress", (frame) => frame.data.progress);
  const progressFrames = live.frames;
  // The job's first read goes through (the view needs the record); every later GET /jobs/{id} is held until the
  // progress shown has come from the socket's frames, so polling cannot be what moved it.
  let reads = 0;
  let release;
  const released = new Promise((done) => (release = done));
  const hold = async (route) => {
    const request = route.request();
    if (request.method() === "GET" && JOB_READ.test(new URL(request.url()).pathname) && ++reads > 1) await released;
    // A read held until after the unroute has already gone on by itself: nothing is left to continue.
    await route.continue().catch(() => {});
  };
  try {
    await page.reload();
    await signIn(page, shared.local.demo.email, shared.local.demo.password);
    await page.route("**/jobs/**", hold);
    await runContentJob(page);
    const view = page.getByRole("region", { name: "Job", exact: true });
    await view.and(page.locator('[data-live="socket"]')).waitFor({ timeout: 15_000 });
    for (let waited = 0; progressFrames.length < 2 && waited < 60_000; waited += 200) await page.waitForTimeout(200);
    assert.ok(progressFrames.length >= 2, `job.progress frames: ${progressFrames}`);
    // Frames may keep coming (10, 50, 90 can arrive within a moment): the page shows the newest of them, at least
    // the highest seen so far, and only frames can have brought it there while the reads are held.
    const last = Math.max(...progressFrames);
    const shown = async () => Number.parseInt((await page.getByTestId("job-progress").textContent()) ?? "", 10);
    for (let waited = 0; !((await shown()) >= last) && waited < 30_000; waited += 200) await page.waitForTimeout(200);
    const progress = await shown();
    assert.ok(progress >= last && progressFrames.includes(progress), `shown ${progress}% from frames ${progressFrames}`);
    assert.ok(progress > 0, `progress shown from frames: ${progressFrames}`);
  } finally {
    release();
    await page.unroute("**/jobs/**", hold);
    live.stop();
  }
  await page.getByRole("region", { name: "Job", exact: true }).getByText("succeeded", { exact: true })
    .waitFor({ timeout: 90_000 });
});

test("without a WebSocket URL the job page polls to 100 %", async () => {
  const { page } = shared;
  await page.route("**/config.json", async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, json: { ...(await response.json()), websocketUrl: null } });
  });
  const jobReads = [];
  const onRequest = (request) => {
    if (request.method() === "GET" && JOB_READ.test(new URL(request.url()).pathname)) jobReads.push(request.url());
  };
  page.on("request", onRequest);
  try {
    await page.reload();
    await signIn(page, shared.local.demo.email, shared.local.demo.password);
    await runContentJob(page);
    await page.locator('[data-live="polling"]').waitFor();
    await page.getByTestId("job-progress").filter({ hasText: "100%" }).waitFor({ timeout: 90_000 });
    assert.ok(jobReads.length >= 2, `polled ${jobReads.length} times`);
  } finally {
    page.off("request", onRequest);
    await page.unroute("**/config.json");
    await page.reload();
    await signIn(page, shared.local.demo.email, shared.local.demo.password);
  }
});

test("a reminder added in the task edit panel is saved and still there after a reload", async () => {
  const { page } = shared;
  const title = `water the plants ${Math.random().toString(36).slice(2, 8)}`;
  await page.goto(`${shared.local.consoleUrl}#/tasks`);
  await page.getByLabel("Quick add").fill(`B ${title} today`);
  await page.getByRole("button", { name: "Add", exact: true }).click();
  const row = page.locator(".task", { hasText: title });
  await row.getByRole("button", { name: title, exact: true }).click();
  const panel = page.getByRole("complementary", { name: "Edit task" });
  await panel.getByLabel("Remind").selectOption("at");
  await panel.getByLabel("Reminder time").fill("2030-01-02T09:30");
  await panel.getByRole("button", { name: "Add reminder" }).click();
  await panel.getByRole("button", { name: "Save" }).click();
  await panel.getByRole("button", { name: /^Remove reminder at / }).waitFor();

  await page.reload();
  await signIn(page, shared.local.demo.email, shared.local.demo.password);
  await page.locator(".task", { hasText: title }).getByRole("button", { name: title, exact: true }).click();
  const reopened = page.getByRole("complementary", { name: "Edit task" });
  await reopened.getByRole("button", { name: /^Remove reminder at / }).waitFor();
  assert.equal(await reopened.getByRole("button", { name: /^Remove reminder/ }).count(), 1);
});
