// The tool registry and the crew builder: an HTTP tool registered through the JSON Schema editor (bad JSON and a
// schema the meta-schema refuses block saving; the secret never comes back), then a crew of two agents using it,
// tested as a Step Functions run on the embedded cloud (the offline provider) to its result.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkPage, shared } from "../shared.mjs";

const suffix = Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");
const toolName = `weather_${suffix}`;
const secret = `tok-${suffix}-never-shown`;

async function go(hash) {
  const { page } = shared;
  await page.goto(`${shared.local.consoleUrl}#/${hash}`);
}

test("an HTTP tool is registered with a schema typed in the editor; invalid schemas block saving", async () => {
  const { page } = shared;
  await go("tools");
  await page.getByRole("heading", { name: "Tools", level: 1 }).waitFor();
  await page.getByRole("button", { name: "New tool" }).click();
  await page.getByLabel("Name", { exact: true }).fill(toolName);
  await page.getByLabel("URL", { exact: true }).fill("https://weather.example.com/v1/{city}");
  const save = page.getByRole("button", { name: "Save tool" });
  const schema = page.getByLabel("Input schema", { exact: true });

  await schema.fill('{\n  "type": "object",\n  "properties": {\n    "city": {"type": "string"},\n  }\n}');
  await page.getByText(/JSON error: Line 5, column 3/).waitFor();
  assert.equal(await save.isDisabled(), true, "save is disabled while the JSON does not parse");

  await schema.fill('{"type": "object", "properties": {"city": {"type": "strin"}}, "required": ["city"]}');
  const problems = page.getByRole("list", { name: "Input schema problems" });
  await problems.getByText("/properties/city/type").first().waitFor();
  assert.equal(await save.isDisabled(), true, "save is disabled while the meta-schema refuses the schema");

  await schema.fill('{"type": "object", "properties": {"city": {"type": "string", "minLength": 2}}, "required": ["city"]}');
  await page.getByText("Valid JSON Schema (draft 2020-12)").first().waitFor();
  await page.getByText("Try it: a sample input").click();
  const sample = page.getByLabel("Sample input (JSON)");
  await sample.fill('{"city": 7}');
  await page.getByRole("list", { name: "Sample problems" }).getByText("must be string").waitFor();
  await sample.fill('{"city": "Oslo"}');
  await page.getByText("The sample matches the schema").waitFor();

  await page.getByLabel("Authentication").selectOption("bearer");
  await page.getByLabel("Secret", { exact: true }).fill(secret);
  assert.equal(await save.isDisabled(), false);
  await save.click();
  await page.getByRole("heading", { name: `Edit ${toolName}` }).waitFor();
  const listed = page.getByRole("list", { name: "Registered tools" }).getByRole("listitem").filter({ hasText: toolName });
  await listed.getByText("secret set").waitFor();
  await page.getByTestId("secret-status").getByText("set", { exact: true }).waitFor();
  assert.equal(await page.getByLabel("Replace secret").inputValue(), "", "the secret field starts empty");
  assert.ok(!(await page.content()).includes(secret), "the stored secret is never shown");
  await checkPage("tools");
});

test("a crew of two agents using the tool is built, saved and tested to its result", async () => {
  const { page } = shared;
  await go("crews");
  await page.getByRole("heading", { name: "Crews", level: 1 }).waitFor();
  for (const [name, role] of [[`Researcher ${suffix}`, "Finds facts"], [`Writer ${suffix}`, "Writes posts"]]) {
    await page.getByRole("button", { name: "New agent" }).click();
    await page.getByLabel("Agent name").fill(name);
    await page.getByLabel("Role").fill(role);
    await page.getByLabel("Goal").fill(`${role} that hold up`);
    await page.getByLabel(`${toolName} (http)`).check();
    await page.getByRole("button", { name: "Save agent" }).click();
    await page.getByRole("heading", { name: `Agent ${name} (v1)` }).waitFor();
    await page.getByRole("list", { name: "Agents" }).getByRole("button", { name }).waitFor();
  }

  await page.getByRole("button", { name: "New crew" }).click();
  await page.getByLabel("Crew name").fill(`Blog crew ${suffix}`);
  await page.getByLabel(`Researcher ${suffix}`).check();
  await page.getByLabel(`Writer ${suffix}`).check();
  const first = page.getByRole("group", { name: "Task 1", exact: true });
  await first.getByLabel("Task id").fill("research");
  await first.getByLabel("Task description").fill("Research {topic}");
  await first.getByLabel("Expected output").fill("Five facts");
  await first.getByLabel("Assigned agent").selectOption({ label: `Researcher ${suffix}` });
  await page.getByRole("button", { name: "Add task" }).click();
  const second = page.getByRole("group", { name: "Task 2", exact: true });
  await second.getByLabel("Task id").fill("write");
  await second.getByLabel("Task description").fill("Write a post on {topic}");
  await second.getByLabel("Expected output").fill("A short post");
  await second.getByLabel("Assigned agent").selectOption({ label: `Writer ${suffix}` });
  await second.getByRole("checkbox", { name: "research", exact: true }).check();
  await page.getByRole("button", { name: "Save crew" }).click();
  await page.getByRole("heading", { name: `Crew Blog crew ${suffix} (v1)` }).waitFor();

  await page.getByRole("button", { name: "Test crew" }).click();
  const status = page.getByTestId("run-status");
  await status.filter({ hasText: /succeeded|failed|cancelled/ }).waitFor({ timeout: 90_000 });
  assert.equal(await status.textContent(), "succeeded");
  assert.match(await page.getByTestId("run-result").textContent(), /^\(offline assistant\)/);
  const outputs = page.getByRole("region", { name: "Run" }).locator(".outputs > li");
  assert.equal(await outputs.count(), 2);
  assert.match(await outputs.nth(0).textContent(), new RegExp(`^research by Researcher ${suffix}`));
  assert.match(await outputs.nth(1).textContent(), new RegExp(`^write by Writer ${suffix}`));
  await checkPage("crews");
});
