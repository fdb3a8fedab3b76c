/** One execution of a flow: the graph with each node's state (in words and colour), polled with backoff until the run
 * ends; cancel, redrive a failed run, decide pending approvals, and the Step Functions console link. */
import { Background, Controls, ReactFlow, type Edge } from "@xyflow/react";
import { useEffect, useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { problem, type Schemas } from "../../api/client";
import { useServices } from "../../context";
import { pollWithBackoff } from "../../poll";
import { stepFunctionsLink } from "../../stepFunctions";
import { FIT_VIEW, FitOnResize, NODE_TYPES } from "./FlowNodeView";
import { toEditor, type FlowNode, type RunState } from "./model";
import { ErrorText } from "../../ErrorText";

type Flow = Schemas["Flow"];
type Execution = Schemas["Execution"];
type ExecutionEvent = Schemas["ExecutionEvent"];
type Approval = Schemas["Approval"];

/** Each node's state from the events, in order (a redriven node runs again). */
export function nodeStates(events: ExecutionEvent[], execution: Execution | null): Map<string, RunState> {
  const states = new Map<string, RunState>();
  for (const event of events) {
    if (!event.node_id || event.source !== "execution") continue;
    if (event.type === "node_entered") states.set(event.node_id, "running");
    else if (event.type === "node_exited") states.set(event.node_id, "succeeded");
    else if (event.type === "node_failed") states.set(event.node_id, "failed");
  }
  if (execution?.failed_node) states.set(execution.failed_node, "failed");
  return states;
}

export function ExecutionView({ flowId, executionId }: { flowId: string; executionId: string }) {
  const { api, config } = useServices();
  const [flow, setFlow] = useState<Flow | null>(null);
  const [execution, setExecution] = useState<Execution | null>(null);
  const [events, setEvents] = useState<ExecutionEvent[]>([]);
  const [approvals, setApprovals] = useState<Approval[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [round, setRound] = useState(0); // a redrive starts watching again

  useEffect(() => {
    void api.GET("/flows/{flow_id}", { params: { path: { flow_id: flowId } } }).then(({ data, error }) => (error ? setFailure(problem(error)) : setFlow(data)));
  }, [api, flowId]);

  useEffect(() => {
    let after: string | undefined;
    let seen: ExecutionEvent[] = [];
    const path = { execution_id: executionId };
    return pollWithBackoff(async () => {
      const found = await api.GET("/executions/{execution_id}", { params: { path } });
      if (found.error) {
        setFailure(problem(found.error));
        return "done";
      }
      setExecution(found.data);
      const timeline = await api.GET("/executions/{execution_id}/events", { params: { path, query: after ? { after } : {} } });
      const fresh = timeline.data?.items ?? [];
      if (timeline.data) after = timeline.data.next;
      if (fresh.length) {
        seen = [...seen, ...fresh];
        setEvents(seen);
      }
      if (found.data.status !== "running") return "done";
      const waiting = await api.GET("/executions/{execution_id}/approvals", { params: { path } });
      setApprovals((waiting.data ?? []).filter((a) => a.status === "pending"));
      return fresh.length ? "changed" : "same";
    });
  }, [api, executionId, round]);

  const states = useMemo(() => nodeStates(events, execution), [events, execution]);
  const graph = useMemo(() => (flow ? toEditor(flow.graph) : { nodes: [] as FlowNode[], edges: [] as Edge[] }), [flow]);
  const nodes = useMemo(
    () => graph.nodes.map((node) => ({ ...node, data: { ...node.data, state: states.get(node.id) ?? ("pending" as RunState) } })),
    [graph, states],
  );

  async function act(action: "cancel" | "redrive") {
    const path = { execution_id: executionId };
    const { data, error } =
      action === "cancel"
        ? await api.POST("/executions/{execution_id}/cancel", { params: { path } })
        : await api.POST("/executions/{execution_id}/redrive", { params: { path } });
    if (error) return setFailure(problem(error));
    setFailure(null);
    setExecution(data);
    if (action === "redrive") setRound((n) => n + 1);
  }

  async function decide(approval: Approval, decision: "approve" | "reject", comment: string) {
    const params = { path: { execution_id: executionId, node_id: approval.node_id } };
    const { error } =
      decision === "approve"
        ? await api.POST("/executions/{execution_id}/approvals/{node_id}/approve", { params, body: { comment } })
        : await api.POST("/executions/{execution_id}/approvals/{node_id}/reject", { params, body: { comment } });
    if (error) return setFailure(problem(error));
    setApprovals((all) => all.filter((a) => a.node_id !== approval.node_id));
  }

  const link = execution ? stepFunctionsLink(execution, config.stepFunctionsConsole) : null;
  return (
    <div className="flow-execution">
      <div className="toolbar">
        <Link to={`/flows/${flowId}`}>← {flow?.name ?? "Flow"}</Link>
        <h1>Execution</h1>
      </div>
      <section className="card execution-summary" aria-label="Execution">
        <p>
          Status: <strong data-testid="execution-status">{execution?.status ?? "loading…"}</strong>
          {execution && <> · version {execution.flow_version} · started {new Date(execution.started_at).toLocaleTimeString()}</>}
          {execution?.redrive_count ? <> · redriven {execution.redrive_count}×</> : null}
        </p>
        <div className="row">
          {execution?.status === "running" && (
            <button type="button" onClick={() => void act("cancel")}>
              Cancel run
            </button>
          )}
          {execution?.status === "failed" && (
            <button type="button" onClick={() => void act("redrive")}>
              Redrive from the failed node
            </button>
          )}
          {link && (
            <a href={link} target="_blank" rel="noreferrer">
              Step Functions execution
            </a>
          )}
        </div>
        {execution?.error && (
          <p className="error">
            {execution.failed_node && <strong>{execution.failed_node}: </strong>}
            {execution.error} {execution.cause}
          </p>
        )}
        <ErrorText message={failure} />
        {approvals.map((approval) => (
          <ApprovalForm key={approval.node_id} approval={approval} onDecide={(d, c) => void decide(approval, d, c)} />
        ))}
      </section>
      <div className="flow-layout">
        <section className="flow-canvas card" aria-label="Execution graph">
          <ReactFlow<FlowNode, Edge>
            nodes={nodes}
            edges={graph.edges}
            nodeTypes={NODE_TYPES}
            nodesDraggable={false}
            nodesConnectable={false}
            elementsSelectable={false}
            fitView
            fitViewOptions={FIT_VIEW}
            minZoom={0.3}
          >
            <Background />
            <FitOnResize />
            <Controls showInteractive={false} />
          </ReactFlow>
        </section>
        <aside className="card flow-panel" aria-label="Node states">
          <h2>Nodes</h2>
          <ul className="state-list">
            {nodes.map((node) => (
              <li key={node.id} className={`state-${node.data.state}`}>
                <span className="dot" aria-hidden="true" /> {node.id} <span data-testid={`state-${node.id}`}>{node.data.state}</span>
              </li>
            ))}
          </ul>
          <h2>Events</h2>
          <ol className="timeline">
            {events.map((event, index) => (
              <li key={index}>
                {new Date(event.at).toLocaleTimeString()} · {event.type} {event.node_id ?? ""}
              </li>
            ))}
          </ol>
        </aside>
      </div>
    </div>
  );
}

function ApprovalForm({ approval, onDecide }: { approval: Approval; onDecide: (decision: "approve" | "reject", comment: string) => void }) {
  const [comment, setComment] = useState("");
  return (
    <form className="approval" onSubmit={(e) => (e.preventDefault(), onDecide("approve", comment))} aria-label={`Approval for ${approval.node_id}`}>
      <p>
        <strong>{approval.node_id}</strong> asks: {approval.prompt}
      </p>
      <label>
        Comment
        <input value={comment} onChange={(e) => setComment(e.target.value)} maxLength={4000} />
      </label>
      <div className="row">
        <button type="submit" className="primary">
          Approve
        </button>
        <button type="button" onClick={() => onDecide("reject", comment)}>
          Reject
        </button>
      </div>
    </form>
  );
}
