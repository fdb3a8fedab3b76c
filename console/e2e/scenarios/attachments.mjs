// Attachments: a new file uploaded in the note editor is attached to the note once it is in S3 (the API lists it
// under attached_to=note:<id>, and the note still saves: its ETag moved on with the attachment); in the task edit
// panel an existing file is picked with the keyboard and attached, a new one uploaded and detached again; what is
// attached is still there after a reload.
import assert from "node:assert/strict";
import { test } from "node:test";
import { apiAs, checkPage, shared, signIn } from "../shared.mjs";

function unique(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

function textFile(name, text) {
  return { name, mimeType: "text/plain", buffer: Buffer.from(text) };
}

/** The attached file's row in an Attachments section. */
function attached(section, name) {
  return section.getByRole("list", { name: "Attached files" }).getByRole("listitem").filter({ hasText: name });
}

async function attachedNames(call, target) {
  const { items } = await call("GET", `/files?attached_to=${encodeURIComponent(target)}`);
  return items.map((file) => file.filename).sort();
}

/** Until the file's checks end (the picker lists available files only). */
async function waitAvailable(call, fileId) {
  for (let attempt = 0; attempt < 60; attempt += 1) {
    if ((await call("GET", `/files/${fileId}`)).status === "available") return;
    await new Promise((done) => setTimeout(done, 500));
  }
  assert.fail(`file ${fileId} did not become available`);
}

const state = { noteFile: null, noteTitle: null };

test("a file uploaded in the note editor is attached to the note, and the note still saves", async () => {
  const { page } = shared;
  const call = await apiAs(page);
  const title = unique("Receipts");
  const name = `${unique("receipt")}.txt`;
  await page.goto(`${shared.local.consoleUrl}#/notes`);
  const created = page.waitForResponse((response) => response.request().method() === "POST" && new URL(response.url()).pathname.endsWith("/notes"));
  await page.getByRole("button", { name: "New note" }).click();
  const noteId = (await (await created).json()).id;
  const editor = page.getByRole("region", { name: "Note editor" });
  await editor.getByLabel("Title").fill(title);
  await editor.getByRole("button", { name: "Save" }).click();
  await editor.getByRole("status").filter({ hasText: "Saved" }).waitFor();

  const section = editor.getByRole("region", { name: "Attachments" });
  await section.getByText("No attachments.").waitFor();
  await section.getByLabel("Attach a file").setInputFiles(textFile(name, "one coffee, 3.20\n"));
  await attached(section, name).waitFor();
  await section.getByRole("status").filter({ hasText: `Attached ${name}` }).waitFor();
  assert.ok(await page.evaluate(() => {
    const bar = document.querySelector(".attachments progress");
    return bar !== null && bar.max > 1 && bar.value === bar.max;
  }), "the progress bar shows every byte sent");
  assert.deepEqual(await attachedNames(call, `note:${noteId}`), [name]);
  const [file] = (await call("GET", `/files?attached_to=note:${noteId}`)).items;
  state.noteFile = file;
  state.noteTitle = title;

  // Attaching moved the note's version on: the editor's next save uses the new ETag (no 412).
  await editor.getByLabel("Markdown").fill("- keep the receipts");
  await editor.getByRole("button", { name: "Save" }).click();
  await editor.getByRole("status").filter({ hasText: "Saved" }).waitFor();
  assert.equal(await page.getByRole("alert").count(), 0);

  // The file becomes available once its checks end; the list follows.
  await waitAvailable(call, file.id);
  await attached(section, name).filter({ hasText: "available" }).waitFor({ timeout: 15_000 });
  const download = page.waitForEvent("download");
  await attached(section, name).getByRole("button", { name: `Download ${name}` }).click();
  assert.equal((await download).suggestedFilename(), name);
  await checkPage("notes-attachments");
});

test("an existing file is attached to a task, a new one detached, and they stay so after a reload", async () => {
  const { page } = shared;
  assert.ok(state.noteFile, "the note's file (the previous test)");
  const existing = state.noteFile;
  const call = await apiAs(page);
  const title = unique("file the taxes");
  await page.goto(`${shared.local.consoleUrl}#/tasks`);
  await page.getByLabel("Quick add").fill(`B ${title} today`);
  await page.getByRole("button", { name: "Add", exact: true }).click();
  const row = page.locator(".task", { hasText: title });
  await row.waitFor();
  const taskId = await row.getAttribute("data-task-id");
  await row.getByRole("button", { name: title, exact: true }).click();
  const panel = page.getByRole("complementary", { name: "Edit task" });
  const section = panel.getByRole("region", { name: "Attachments" });
  await section.getByText("No attachments.").waitFor();

  // The picker, with the keyboard: open it, the file list has focus, pick, Tab to Attach, Enter.
  await section.getByRole("button", { name: "Attach an existing file" }).press("Enter");
  const picker = section.getByLabel("Existing file");
  await picker.locator(`option[value="${existing.id}"]`).waitFor({ state: "attached" });
  assert.ok(await picker.evaluate((select) => select === document.activeElement), "the picker's list has focus");
  await picker.selectOption(existing.id);
  await page.keyboard.press("Tab"); // to Attach
  await page.keyboard.press("Enter");
  await attached(section, existing.filename).waitFor();
  const reopen = section.getByRole("button", { name: "Attach an existing file" });
  await reopen.waitFor();
  assert.ok(await reopen.evaluate((button) => button === document.activeElement), "focus is back on the picker's button");

  // A new file uploaded in the panel, then detached.
  const extra = `${unique("draft")}.txt`;
  await section.getByLabel("Attach a file").setInputFiles(textFile(extra, "a draft\n"));
  await attached(section, extra).waitFor();
  assert.deepEqual(await attachedNames(call, `task:${taskId}`), [existing.filename, extra].sort());
  await attached(section, extra).getByRole("button", { name: `Detach ${extra}` }).click();
  await attached(section, extra).waitFor({ state: "detached" });
  await section.getByRole("status").filter({ hasText: `Detached ${extra}` }).waitFor();
  assert.deepEqual(await attachedNames(call, `task:${taskId}`), [existing.filename]);
  assert.equal(await page.getByRole("alert").count(), 0);

  // The task still saves (its ETag followed the attachments).
  await panel.getByLabel("Description").fill("with the receipts attached");
  const saved = page.waitForResponse((response) => response.request().method() === "PATCH" && response.url().includes(`/tasks/${taskId}`));
  await panel.getByRole("button", { name: "Save" }).click();
  assert.equal((await saved).status(), 200);
  await checkPage("tasks-attachments");

  await page.reload();
  await signIn(page, shared.local.demo.email, shared.local.demo.password);
  await page.locator(".task", { hasText: title }).getByRole("button", { name: title, exact: true }).click();
  const reopened = page.getByRole("complementary", { name: "Edit task" }).getByRole("region", { name: "Attachments" });
  await attached(reopened, existing.filename).waitFor();
  assert.equal(await attached(reopened, extra).count(), 0);

  // The note keeps its attachment too (a file can be attached to several targets).
  await page.goto(`${shared.local.consoleUrl}#/notes`);
  await page.getByRole("region", { name: "Notes list" }).getByRole("button", { name: state.noteTitle }).click();
  const note = page.getByRole("region", { name: "Note editor" }).getByRole("region", { name: "Attachments" });
  await attached(note, existing.filename).waitFor();
});
