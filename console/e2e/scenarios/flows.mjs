// Flows: a 3-node flow built in the editor, saved, run, and watched in the execution view until every node has
// succeeded; a flow whose llm node has no prompt shows the problem on that node. Both under the console's CSP.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkPage, shared } from "../shared.mjs";

const unique = () => Math.random().toString(36).slice(2, 8);

function editor(page) {
  const panel = page.getByRole("complementary", { name: "Node settings" });
  return {
    panel,
    async add(kind) {
      await page.getByLabel("Node kind").selectOption(kind);
      await page.getByRole("button", { name: "Add node" }).click();
      await page.getByTestId(`node-${kind}`).waitFor();
    },
    async choose(nodeId) {
      await panel.getByLabel("Node to edit").selectOption(nodeId);
    },
    async connect(from, fromPort, to, toPort) {
      await this.choose(from);
      await panel.getByLabel("From output").selectOption(fromPort);
      await panel.getByLabel("To node").selectOption(to);
      await panel.getByLabel("To input").selectOption(toPort);
      await panel.getByRole("button", { name: "Connect", exact: true }).click();
    },
  };
}

/** Content-Security-Policy violations the page reports (React Flow's styles must come from the bundle). */
function watchCsp(page) {
  const violations = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return violations;
}

async function buildThreeNodeFlow(page, name, prompt) {
  await page.goto(`${shared.local.consoleUrl}#/flows`);
  await page.getByRole("heading", { name: "Flows" }).waitFor();
  await page.getByRole("link", { name: "New flow" }).click();
  await page.getByLabel("Flow name").fill(name);
  const flow = editor(page);
  await flow.add("start");
  await flow.add("llm");
  if (prompt) await flow.panel.getByLabel("Prompt").fill(prompt);
  await flow.add("end");
  await flow.panel.getByLabel(/^Flow outputs/).fill("text:string");
  // One edge drawn on the canvas with the mouse, one with the Connect form (the keyboard's way).
  const handle = (node, type, port) => page.getByTestId(`node-${node}`).locator(`.react-flow__handle.${type}[data-handleid="${port}"]`);
  await handle("start", "source", "flow").dragTo(handle("llm", "target", "flow"));
  await page.locator('.react-flow__edge[data-id*="start"]').waitFor({ state: "attached" });
  await flow.connect("llm", "text", "end", "text");
  return flow;
}

test("a 3-node flow is built in the editor, saved, run, and every node reaches succeeded", async () => {
  const { page } = shared;
  const violations = watchCsp(page);
  const began = Date.now();
  await buildThreeNodeFlow(page, `Tide haiku ${unique()}`, "Write a haiku about tides");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("status").filter({ hasText: "Saved version 1" }).waitFor();
  assert.match(page.url(), /#\/flows\/[^/]+$/, "a saved flow has its own address");
  const canvas = page.getByRole("region", { name: "Flow graph" });
  await canvas.locator(".react-flow__edge").nth(1).waitFor({ state: "attached" }); // read back from the API
  assert.equal(await canvas.locator(".react-flow__edge").count(), 2);
  // React Flow's stylesheet came with the bundle (style-src 'self'): its nodes are positioned absolutely.
  assert.equal(await canvas.locator(".react-flow__node").first().evaluate((el) => getComputedStyle(el).position), "absolute");

  // Reloading the flow gives back the same graph, positions included.
  const before = await page.getByTestId("node-end").boundingBox();
  await page.getByRole("link", { name: "← All flows" }).click();
  await page.locator(".flow-list a").first().waitFor();
  await page.goBack();
  await canvas.locator(".react-flow__edge").nth(1).waitFor({ state: "attached" });
  assert.equal(await canvas.locator(".react-flow__edge").count(), 2);
  assert.ok(before && (await page.getByTestId("node-end").boundingBox()), "the end node is drawn again");
  await checkPage("flows");

  await page.getByRole("button", { name: "Run flow" }).click();
  await page.getByRole("heading", { name: "Execution" }).waitFor();
  for (const node of ["start", "llm", "end"]) {
    await page.getByTestId(`state-${node}`).filter({ hasText: "succeeded" }).waitFor({ timeout: 60_000 });
    await page.getByTestId(`node-state-${node}`).filter({ hasText: "succeeded" }).waitFor();
  }
  await page.getByTestId("execution-status").filter({ hasText: "succeeded" }).waitFor();
  assert.ok(await page.getByRole("link", { name: "Step Functions execution" }).getAttribute("href"));
  console.log(`flows: built, saved, ran and watched a 3-node flow in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  await checkPage("flow-execution");
  assert.deepEqual(violations, []);
});

test("a flow with a node missing its prompt and a mistyped edge shows each problem where it is", async () => {
  const { page } = shared;
  const flow = await buildThreeNodeFlow(page, `No prompt ${unique()}`, null);
  await flow.connect("llm", "usage", "end", "flow"); // an object into a control port
  await page.getByRole("button", { name: "Save" }).click();
  const problems = page.getByRole("list", { name: "Flow problems" });
  await problems.getByText(/needs its 'prompt' input/).waitFor();
  await problems.getByText(/llm\.usage is object but end\.flow takes control/).waitFor();
  const llm = page.getByTestId("node-llm");
  assert.match(await llm.getAttribute("class"), /\binvalid\b/);
  await llm.getByRole("list", { name: "Problems of llm" }).getByText(/Invalid: .*prompt/).waitFor();
  await page.getByTestId("node-end").getByRole("list", { name: "Problems of end" }).getByText(/takes control/).waitFor();
  assert.doesNotMatch(await page.getByTestId("node-start").getAttribute("class"), /\binvalid\b/);
  const badEdge = page.locator(".react-flow__edge.invalid");
  assert.equal(await badEdge.count(), 1);
  assert.equal(await badEdge.getAttribute("aria-label"), "Edge with a problem: llm to end");
  assert.match(page.url(), /#\/flows\/new$/, "nothing was saved");
  await checkPage("flow-problems");

  // Fixing both (a prompt, the edge removed) lets the save through and the marks go away.
  await flow.choose("llm");
  await flow.panel.getByLabel("Prompt").fill("Now with a prompt");
  await flow.panel.getByRole("button", { name: "Remove llm.usage → end.flow" }).click();
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("status").filter({ hasText: "Saved version 1" }).waitFor();
  await page.locator(".react-flow__edge").nth(1).waitFor({ state: "attached" });
  assert.equal(await page.locator(".flow-node.invalid, .react-flow__edge.invalid").count(), 0);
});
