// Files: a file above the multipart threshold (lowered for this cloud: harness.mjs's MULTIPART) goes straight to S3
// in parts; an upload interrupted after its first part resumes after a reload, sending only the parts S3 does not
// have; Cancel abandons an interrupted one. (The small PNG's presigned POST and thumbnail: console.test.mjs.)
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { MULTIPART } from "../harness.mjs";
import { checkPage, shared, signIn } from "../shared.mjs";

const MIB = 1 << 20;
const SIZE = 2 * MULTIPART.partMib * MIB + MIB + 12_345; // above the threshold: three parts, the last one short
const PARTS = 3;
const STORAGE_KEY = "crewhouse.files.upload"; // console/src/files/multipart.ts
// A cloud started elsewhere (CONSOLE_E2E_API_URL) keeps the 100 MiB threshold unless it was started with the
// harness's --multipart-* options (then say so with CONSOLE_E2E_MULTIPART=1): else this file would not go in parts.
const skip = process.env.CONSOLE_E2E_API_URL && !process.env.CONSOLE_E2E_MULTIPART
  ? "needs the harness's lowered multipart threshold" : false;

const FILES = mkdtempSync(join(tmpdir(), "crewhouse-console-files-"));
after(() => rmSync(FILES, { recursive: true, force: true }));

/** A file on disk, as a person picks one: the browser reads its modification time, by which (with its name and
 * size) the console recognises the same file picked again. Returns its path. */
function bigFile(name) {
  const path = join(FILES, name);
  writeFileSync(path, randomBytes(SIZE));
  const modified = new Date("2026-01-01T00:00:00Z");
  utimesSync(path, modified, modified);
  return path;
}

function unique(prefix) {
  return `${prefix}-${Date.now().toString(36)}.bin`;
}

const isPartUpload = (url) => url.searchParams.has("partNumber") && url.searchParams.has("uploadId");

/** The part numbers of the part PUTs the page sends (a refused or retried one counts each time). */
function recordPartPuts(page) {
  const parts = [];
  const listener = (request) => {
    const url = new URL(request.url());
    if (request.method() === "PUT" && isPartUpload(url)) parts.push(Number(url.searchParams.get("partNumber")));
  };
  page.on("request", listener);
  return { parts, stop: () => page.off("request", listener) };
}

/** The network drops every PUT of part 2 and later: part 1 reaches S3, the others fail after their retries. */
async function dropPartsAfterTheFirst(route) {
  const url = new URL(route.request().url());
  if (route.request().method() === "PUT" && Number(url.searchParams.get("partNumber")) >= 2) {
    await route.abort("connectionreset");
  } else {
    await route.continue();
  }
}

function fileRow(page, name) {
  return page.getByRole("region", { name: "Files list" }).getByRole("listitem").filter({ hasText: name });
}

/** Waits until the file is listed as available (the workers found S3's object complete) with `kib` KiB. */
async function waitAvailable(page, name) {
  const row = fileRow(page, name);
  for (let attempt = 0; attempt < 60 && !(await row.filter({ hasText: "available" }).count()); attempt += 1) {
    if (await row.count()) await row.getByRole("button", { name, exact: true }).click(); // opening a file reloads the list
    await page.waitForTimeout(500);
  }
  await row.filter({ hasText: "available" }).waitFor({ timeout: 1_000 });
  assert.match(await row.innerText(), new RegExp(`· ${Math.ceil(SIZE / 1024)} KiB$`));
}

async function progressDone(page) {
  return page.evaluate(() => {
    const bar = document.querySelector("progress");
    return bar !== null && bar.max > 1 && bar.value === bar.max;
  });
}

async function savedUpload(page) {
  return page.evaluate((key) => sessionStorage.getItem(key), STORAGE_KEY);
}

test("a file above the multipart threshold goes to S3 in parts and is listed with its size", { skip }, async () => {
  const { page } = shared;
  const name = unique("parts");
  await page.goto(`${shared.local.consoleUrl}#/files`);
  const puts = recordPartPuts(page);
  try {
    await page.getByLabel("Upload a file").setInputFiles(bigFile(name));
    await waitAvailable(page, name);
  } finally {
    puts.stop();
  }
  assert.deepEqual([...puts.parts].sort(), Array.from({ length: PARTS }, (_, index) => index + 1));
  assert.ok(await progressDone(page), "the progress bar shows every byte sent");
  assert.equal(await savedUpload(page), null, "a finished upload is not remembered");
  assert.equal(await page.getByRole("alert").count(), 0);
});

test("an upload interrupted after its first part resumes after a reload and sends only the missing parts", { skip }, async () => {
  const { page } = shared;
  const name = unique("interrupted");
  const file = bigFile(name);
  await page.goto(`${shared.local.consoleUrl}#/files`);
  const interrupted = recordPartPuts(page);
  await page.route(isPartUpload, dropPartsAfterTheFirst);
  try {
    await page.getByLabel("Upload a file").setInputFiles(file);
    await page.getByRole("alert").filter({ hasText: /Part [23] did not reach S3 .* can be resumed/ }).waitFor({ timeout: 60_000 });
  } finally {
    await page.unroute(isPartUpload, dropPartsAfterTheFirst);
    interrupted.stop();
  }
  assert.equal(interrupted.parts.filter((part) => part === 1).length, 1, `part PUTs: ${interrupted.parts}`);
  assert.ok(interrupted.parts.filter((part) => part >= 2).length > 2, "parts 2 and 3 were retried before giving up");
  const saved = JSON.parse(await savedUpload(page));
  assert.deepEqual(Object.keys(saved).sort(), ["fileId", "lastModified", "name", "size"], "no URL or token kept");
  assert.equal(saved.name, name);
  await fileRow(page, name).filter({ hasText: "pending" }).waitFor();

  // The tab reloads: the page remembers the unfinished upload and offers to resume it when the file is picked.
  await page.reload();
  await signIn(page, shared.local.demo.email, shared.local.demo.password);
  await page.goto(`${shared.local.consoleUrl}#/files`);
  await page.getByRole("status").filter({ hasText: `An upload of ${name}` }).waitFor();
  await checkPage("files-interrupted");
  await page.getByLabel("Upload a file").setInputFiles(file);
  await page.getByRole("status").filter({ hasText: "resume sends only the parts S3 does not have yet" }).waitFor();
  const resumed = recordPartPuts(page);
  try {
    await page.getByRole("button", { name: "Resume", exact: true }).click();
    await waitAvailable(page, name);
  } finally {
    resumed.stop();
  }
  assert.deepEqual([...resumed.parts].sort(), [2, 3], "part 1 was in S3 already and was not sent again");
  assert.ok(await progressDone(page));
  assert.equal(await savedUpload(page), null);
  assert.equal(await page.getByRole("alert").count(), 0);
  await checkPage("files-multipart");
});

test("Cancel abandons an interrupted upload, which holds back another one until then: it leaves the list and is forgotten", { skip }, async () => {
  const { page } = shared;
  const name = unique("abandoned");
  await page.goto(`${shared.local.consoleUrl}#/files`);
  await page.route(isPartUpload, dropPartsAfterTheFirst);
  try {
    await page.getByLabel("Upload a file").setInputFiles(bigFile(name));
    await page.getByRole("alert").filter({ hasText: "can be resumed" }).waitFor({ timeout: 60_000 });
  } finally {
    await page.unroute(isPartUpload, dropPartsAfterTheFirst);
  }
  await fileRow(page, name).waitFor();
  // Another file waits until this one is resumed or cancelled: starting it would forget the unfinished upload.
  const other = unique("other");
  await page.getByLabel("Upload a file").setInputFiles(bigFile(other));
  await page.getByRole("alert").filter({ hasText: `${name} did not finish uploading` }).waitFor();
  assert.equal(await fileRow(page, other).count(), 0);
  await page.getByRole("button", { name: "Cancel upload", exact: true }).click();
  await fileRow(page, name).waitFor({ state: "detached" });
  assert.equal(await savedUpload(page), null);
  assert.equal(await page.getByRole("button", { name: "Resume", exact: true }).count(), 0);
});
