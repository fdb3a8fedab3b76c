// The web console in a real Chromium against `crewhouse local`, as a person uses it. Each page's further scenarios
// live in e2e/scenarios/*.mjs and run after these, in the same cloud and browser (see shared.mjs).
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, before, test } from "node:test";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DESKTOP, SCREENSHOTS, launchChromium, mailedCode, startLocal } from "./harness.mjs";
import { checkPage, shared, signIn } from "./shared.mjs";

let local;
let browser;
let page; // the demo user's, signed in by the first test

before(async () => {
  local = shared.local = await startLocal();
  browser = shared.browser = await launchChromium();
  console.log(`console ${local.consoleUrl}; screenshots in ${SCREENSHOTS}`);
});

after(async () => {
  // A browser that does not close in 30 s (seen once, after every test had passed) must not hold the cloud up.
  const closed = await Promise.race([browser?.close().then(() => true), new Promise((done) => setTimeout(() => done(false), 30_000))]);
  if (closed === false) console.log("# Chromium did not close in 30 s; its process is killed with the test file");
  await local?.stop();
});

test("the demo user signs in with SRP and a wrong password is refused", async () => {
  page = shared.page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  await page.goto(local.consoleUrl);
  await page.getByLabel("E-mail").fill(local.demo.email);
  await page.getByLabel("Password").fill("Not-the-password-1!");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "Incorrect username or password." }).waitFor();

  await signIn(page, local.demo.email, local.demo.password);
  assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0, "no token in web storage");
  await checkPage("sign-in-done-tasks");
});

test("a new person signs up, enters the code from the outbox and is signed in", async () => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const newcomer = await context.newPage();
  const email = `newcomer-${Date.now()}@example.com`;
  await newcomer.goto(local.consoleUrl);
  await newcomer.getByRole("button", { name: "Create an account" }).click();
  await newcomer.getByLabel("E-mail").fill(email);
  await newcomer.getByLabel("Password").fill("Correct-Horse-42!");
  await newcomer.getByRole("button", { name: "Sign up" }).click();
  await newcomer.getByRole("textbox", { name: "Verification code" }).fill("000000");
  await newcomer.getByRole("button", { name: "Continue" }).click();
  await newcomer.getByRole("alert").filter({ hasText: "Invalid verification code" }).waitFor();

  await newcomer.getByRole("textbox", { name: "Verification code" }).fill(await mailedCode(local.apiUrl, email));
  await newcomer.getByRole("button", { name: "Continue" }).click();
  await newcomer.getByRole("heading", { name: "Tasks" }).waitFor();
  assert.equal(await newcomer.getByText(email).count(), 1);
  await context.close();
});

/** A few letters no earlier run used, so a reused cloud (CONSOLE_E2E_API_URL) finds only this run's items. */
function unique() {
  return Array.from({ length: 8 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");
}

test("a forgotten password is reset with the mailed code, and the old one stops working", async () => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const person = await context.newPage();
  const email = `forgetful-${Date.now()}@example.com`;
  await person.goto(local.consoleUrl);
  await person.getByRole("button", { name: "Create an account" }).click();
  await person.getByLabel("E-mail").fill(email);
  await person.getByLabel("Password").fill("First-Horse-42!");
  await person.getByRole("button", { name: "Sign up" }).click();
  await person.getByRole("textbox", { name: "Verification code" }).fill(await mailedCode(local.apiUrl, email));
  await person.getByRole("button", { name: "Continue" }).click();
  await person.getByRole("heading", { name: "Tasks" }).waitFor();
  await person.getByRole("button", { name: "Sign out" }).click();

  await person.getByRole("button", { name: "Forgot password" }).click();
  await person.getByLabel("E-mail").fill(email);
  await person.getByRole("button", { name: "Continue" }).click();
  await person.getByRole("heading", { name: "Choose a new password" }).waitFor(); // the reset code is mailed by now
  await person.getByRole("textbox", { name: "Verification code" }).fill(await mailedCode(local.apiUrl, email));
  await person.getByLabel("New password", { exact: true }).fill("Second-Horse-42!");
  await person.getByRole("button", { name: "Continue" }).click();
  await person.getByRole("status").filter({ hasText: "Your password is changed" }).waitFor();

  await person.getByLabel("E-mail").fill(email);
  await person.getByLabel("Password").fill("First-Horse-42!");
  await person.getByRole("button", { name: "Sign in" }).click();
  await person.getByRole("alert").filter({ hasText: "Incorrect username or password." }).waitFor();
  await signIn(person, email, "Second-Horse-42!");
  await context.close();
});

test("quick add shows what it understood, and a drag from B to A is one move request", async () => {
  const title = `stamp the letters ${unique()}`;
  await page.goto(`${local.consoleUrl}#/tasks`);
  await page.getByLabel("Quick add").fill(`B ${title} today #post`);
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByRole("list", { name: "Understood" }).getByRole("listitem").first().waitFor();
  const row = page.getByTestId("group-B").locator(".task", { hasText: title });
  await row.waitFor();

  const moves = [];
  page.on("request", (request) => {
    if (request.url().endsWith("/move")) moves.push(JSON.parse(request.postData() ?? "{}"));
  });
  const handle = row.getByRole("button", { name: /^Move / });
  const target = page.getByTestId("group-A");
  const from = await handle.boundingBox();
  const to = await target.boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2, from.y + 20, { steps: 5 });
  await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 15 });
  await page.mouse.up();

  const moved = page.getByTestId("group-A").locator(".task", { hasText: title });
  await moved.locator(".label", { hasText: /^A\d+$/ }).waitFor(); // the server's label, after the reload
  assert.equal(moves.length, 1);
  assert.equal(moves[0].priority, "A");
  await page.reload();
  await signIn(page, local.demo.email, local.demo.password); // tokens live in memory only: a reload signs out
  await page.getByTestId("group-A").locator(".task", { hasText: title }).waitFor();
  assert.equal(await page.getByTestId("group-B").locator(".task", { hasText: title }).count(), 0);
  await checkPage("tasks");
});

test("a note is written twice and its first revision restored", async () => {
  const title = `Packing list ${unique()}`;
  await page.goto(`${local.consoleUrl}#/notes`);
  await page.getByRole("button", { name: "New note" }).click();
  const editor = page.getByRole("region", { name: "Note editor" });
  await editor.getByLabel("Title").fill(title);
  await editor.getByLabel("Markdown").fill("- tent\n- **stove**");
  await editor.getByRole("button", { name: "Save" }).click();
  await editor.getByRole("status").filter({ hasText: "Saved" }).waitFor();
  await editor.getByLabel("Markdown").fill("- hammock");
  await editor.getByRole("button", { name: "Save" }).click();
  await editor.locator(".revisions li").nth(2).waitFor();

  await editor.getByRole("button", { name: "Preview" }).click();
  await editor.getByRole("article", { name: "Preview" }).getByText("hammock").waitFor();
  const first = await editor.locator(".revisions li", { hasText: title }).getByRole("button", { name: /^Restore revision/ }).first();
  await first.click();
  await editor.getByRole("status").filter({ hasText: /^Restored revision/ }).waitFor();
  assert.equal(await editor.getByLabel("Markdown").inputValue(), "- tent\n- **stove**");
  await editor.getByRole("button", { name: "Preview" }).click();
  await editor.getByRole("article", { name: "Preview" }).locator("strong", { hasText: "stove" }).waitFor();
  await checkPage("notes");
});

test("a content job runs to 100 %", async () => {
  await page.goto(`${local.consoleUrl}#/jobs`);
  await page.getByLabel("Type").selectOption("content");
  await page.getByRole("textbox", { name: /^Brief/ }).fill("Launch post for our solar battery");
  await page.getByRole("button", { name: "Run" }).click();
  await page.getByTestId("job-progress").filter({ hasText: "100%" }).waitFor({ timeout: 90_000 });
  await page.getByRole("region", { name: "Job", exact: true }).getByText("succeeded", { exact: true }).waitFor();
  await checkPage("jobs");
});

test("the chat adds 'buy milk' for tomorrow and the task appears", async () => {
  await page.goto(`${local.consoleUrl}#/chat`);
  await page.getByLabel("Message").fill("add buy milk tomorrow");
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator(".message.assistant:not(.pending)").first().waitFor({ timeout: 60_000 });
  await page.locator(".message.user", { hasText: "add buy milk tomorrow" }).waitFor();
  await page.locator(".tool-call").first().waitFor();
  await checkPage("chat");

  const tomorrow = new Date(Date.now() + 86_400_000 - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
  await page.goto(`${local.consoleUrl}#/tasks`);
  await page.getByLabel("Day").fill(tomorrow);
  await page.locator(".task", { hasText: "buy milk" }).first().waitFor();
});

// A 64 × 48 red PNG.
const RED_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAEAAAAAwCAIAAAAuKetIAAAAUklEQVR4nO3PMQ0AIADAMEAN/lUgCxEcDcmqYJtn7/GzpQNeNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oF2C0gF4fvebiwAAAABJRU5ErkJggg==",
  "base64",
);

test("a file uploads straight to S3 with a progress bar and shows its thumbnail", async () => {
  const name = `red-${unique()}.png`;
  await page.goto(`${local.consoleUrl}#/files`);
  await page.getByLabel("Upload a file").setInputFiles({ name, mimeType: "image/png", buffer: RED_PNG });
  await page.waitForFunction(() => {
    const bar = document.querySelector("progress");
    return bar && bar.max > 1 && bar.value === bar.max; // bytes sent of the file's size
  });
  const thumbnail = page.getByRole("img", { name: `Thumbnail of ${name}` });
  for (let attempt = 0; attempt < 30 && !(await thumbnail.count()); attempt += 1) {
    await page.getByRole("button", { name }).click(); // the thumbnail is made after the upload: look again
    await page.waitForTimeout(500);
  }
  await thumbnail.waitFor();
  assert.ok(await thumbnail.evaluate((image) => image.complete && image.naturalWidth > 0));
  await checkPage("files");
});

const SCENARIOS = join(dirname(fileURLToPath(import.meta.url)), "scenarios");
for (const name of readdirSync(SCENARIOS).filter((file) => file.endsWith(".mjs")).sort()) {
  await import(join(SCENARIOS, name));
}
