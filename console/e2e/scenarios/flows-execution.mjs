// The flow execution view's actions, clicked in the page: a run waiting on a human approval is cancelled; another
// is approved and ends at the flow's `done` end; another is rejected and ends at `rejected`; a run whose HTTP tool
// node failed (the test's own endpoint answers 500 once) is redriven from that node, is running again, and succeeds.
// The flows and runs are made over the API as the demo user (flows.mjs builds one in the editor).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import { apiAs, checkPage, shared } from "../shared.mjs";

const unique = () => Math.random().toString(36).slice(2, 8);
const node = (id, kind, config) => ({ id, kind, config });
const edge = (source, source_port, target, target_port, branch) => ({ source, source_port, target, target_port, ...(branch ? { branch } : {}) });

/** start → review (human approval) → route: approved → done, else → rejected (with the reviewer's comment). */
const APPROVAL_GRAPH = {
  nodes: [
    node("start", "start", { inputs: [] }),
    node("review", "human_approval", { prompt: "Ship the release?", timeout_seconds: 600 }),
    node("route", "condition", { branches: [{ name: "yes", when: { port: "approved", operator: "is_true" } }] }),
    node("done", "end", { outputs: [] }),
    node("rejected", "end", { outputs: [{ name: "comment", type: "string" }] }),
  ],
  edges: [
    edge("start", "flow", "review", "flow"),
    edge("review", "approved", "route", "approved"),
    edge("route", "flow", "done", "flow", "yes"),
    edge("route", "flow", "rejected", "flow", "default"),
    edge("review", "comment", "rejected", "comment"),
  ],
};

async function openRun(page, call, flowId) {
  const run = await call("POST", `/flows/${flowId}/executions`, { input: {} });
  await page.goto(`${shared.local.consoleUrl}#/flows/${flowId}/executions/${run.id}`);
  await page.getByRole("heading", { name: "Execution" }).waitFor();
  return run;
}

const status = (page, text) => page.getByTestId("execution-status").filter({ hasText: new RegExp(`^${text}$`) });

test("a run waiting on an approval is cancelled, one is approved and one rejected, each from the execution view", async () => {
  const { page } = shared;
  const call = await apiAs(page);
  const flow = await call("POST", "/flows", { name: `Release gate ${unique()}`, graph: APPROVAL_GRAPH });
  const approval = page.getByRole("form", { name: "Approval for review" });

  await openRun(page, call, flow.id);
  await approval.waitFor({ timeout: 30_000 }); // the run waits on the approval: it stays running
  await status(page, "running").waitFor();
  await page.getByRole("button", { name: "Cancel run" }).click();
  await status(page, "cancelled").waitFor();
  await page.getByRole("button", { name: "Cancel run" }).waitFor({ state: "detached" });

  await openRun(page, call, flow.id);
  await approval.getByText("Ship the release?").waitFor({ timeout: 30_000 });
  await checkPage("flow-approval");
  await approval.getByLabel("Comment").fill("Looks good");
  await approval.getByRole("button", { name: "Approve" }).click();
  await approval.waitFor({ state: "detached" });
  await page.getByTestId("state-done").filter({ hasText: "succeeded" }).waitFor({ timeout: 30_000 });
  await status(page, "succeeded").waitFor();
  assert.equal(await page.getByTestId("state-rejected").textContent(), "pending");

  const rejected = await openRun(page, call, flow.id);
  await approval.waitFor({ timeout: 30_000 });
  await approval.getByLabel("Comment").fill("Not this week");
  await approval.getByRole("button", { name: "Reject" }).click();
  await page.getByTestId("state-rejected").filter({ hasText: "succeeded" }).waitFor({ timeout: 30_000 });
  await status(page, "succeeded").waitFor();
  assert.equal(await page.getByTestId("state-done").textContent(), "pending");
  const ended = await call("GET", `/executions/${rejected.id}`);
  assert.deepEqual(ended.output, { end: "rejected", output: { comment: "Not this week" } });
});

/** An endpoint for an HTTP tool: answers 500 to the first call; holds the next until `release()`, then answers 200. */
async function flakyEndpoint() {
  const calls = [];
  let release;
  const released = new Promise((done) => (release = done));
  const server = createServer((request, response) => {
    request.resume();
    calls.push(request.url);
    const answer = (code) => response.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify({ ok: code === 200 }));
    if (calls.length === 1) answer(500);
    else void released.then(() => answer(200));
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return { url: `http://127.0.0.1:${server.address().port}/flaky`, calls, release, close: () => (server.closeAllConnections(), server.close()) };
}

test("a run whose tool node failed is redriven from the execution view, runs again and succeeds", async () => {
  const { page } = shared;
  const call = await apiAs(page);
  const endpoint = await flakyEndpoint();
  try {
    const tool = await call("POST", "/tools", { name: `flaky-${unique()}`, kind: "http", config: { method: "POST", url: endpoint.url } });
    const flow = await call("POST", "/flows", {
      name: `Flaky hook ${unique()}`,
      graph: {
        nodes: [
          node("start", "start", { inputs: [] }),
          node("flaky", "tool", { tool_id: tool.id, retry: { max_attempts: 0 } }),
          node("end", "end", { outputs: [{ name: "result", type: "any" }] }),
        ],
        edges: [edge("start", "flow", "flaky", "flow"), edge("flaky", "result", "end", "result")],
      },
    });
    await openRun(page, call, flow.id);
    await status(page, "failed").waitFor({ timeout: 30_000 });
    await page.getByTestId("state-flaky").filter({ hasText: "failed" }).waitFor();
    await page.locator(".execution-summary .error", { hasText: "HTTP 500" }).waitFor();
    await checkPage("flow-failed");

    await page.getByRole("button", { name: "Redrive from the failed node" }).click();
    await status(page, "running").waitFor();
    await page.getByText("redriven 1×").waitFor();
    await page.getByRole("button", { name: "Cancel run" }).waitFor(); // a running run's action
    for (let waited = 0; endpoint.calls.length < 2 && waited < 30_000; waited += 200) await page.waitForTimeout(200);
    assert.equal(endpoint.calls.length, 2, "the failed node ran again");
    endpoint.release();
    await status(page, "succeeded").waitFor({ timeout: 30_000 });
    await page.getByTestId("state-flaky").filter({ hasText: "succeeded" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Redrive from the failed node" }).count(), 0);
  } finally {
    endpoint.release();
    endpoint.close();
  }
});
