/** The flow editor: a React Flow canvas (drag, connect, arrow keys and Delete work there) and, for every action, a
 * form too: add a node, edit the selected node's settings, connect its ports, remove edges, save, run. */
import {
  Background,
  Controls,
  ReactFlow,
  addEdge,
  applyEdgeChanges,
  applyNodeChanges,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { problem, type Schemas } from "../../api/client";
import { useServices } from "../../context";
import { FIT_VIEW, FitOnResize, NODE_TYPES } from "./FlowNodeView";
import {
  NODE_KINDS,
  flowErrors,
  freshId,
  handleLabel,
  handles,
  initialConfig,
  apiEdgeKey,
  toApi,
  toEditor,
  type Config,
  type FlowError,
  type FlowNode,
  type NodeKind,
  type Port,
} from "./model";
import { ErrorText } from "../../ErrorText";

type Flow = Schemas["Flow"];
type Execution = Schemas["Execution"];

function branchLabel(edge: Edge): string | undefined {
  return edge.sourceHandle?.startsWith("branch:") ? handleLabel(edge.sourceHandle) : undefined;
}

function portsText(ports: unknown): string {
  return Array.isArray(ports) ? ports.map((p: Port) => `${p.name}:${p.type ?? "any"}`).join(", ") : "";
}

function parsePorts(text: string): Port[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [name = "", type = ""] = part.split(":").map((s) => s.trim());
      return { name, type: type || "any" };
    });
}

export function FlowEditor({ flowId }: { flowId: string | null }) {
  const { api } = useServices();
  const navigate = useNavigate();
  const [flow, setFlow] = useState<Flow | null>(null);
  const [name, setName] = useState("");
  const [nodes, setNodes] = useState<FlowNode[]>([]);
  const [edges, setEdges] = useState<Edge[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [kind, setKind] = useState<NodeKind>("llm");
  const [errors, setErrors] = useState<FlowError[]>([]);
  // A new flow's first save moves to the flow's own address (a new editor): the message comes along.
  const arrived = (useLocation().state as { message?: string } | null)?.message ?? null;
  const [message, setMessage] = useState<string | null>(arrived);
  const [failure, setFailure] = useState<string | null>(null);
  const [loading, setLoading] = useState(flowId !== null);

  useEffect(() => {
    if (!flowId) return;
    void api.GET("/flows/{flow_id}", { params: { path: { flow_id: flowId } } }).then(({ data, error }) => {
      setLoading(false);
      if (error) return setFailure(problem(error));
      setFlow(data);
      setName(data.name);
      const graph = toEditor(data.graph);
      setNodes(graph.nodes);
      setEdges(graph.edges);
    });
  }, [api, flowId]);

  const onNodesChange = useCallback((changes: NodeChange<FlowNode>[]) => setNodes((current) => applyNodeChanges(changes, current)), []);
  const onEdgesChange = useCallback((changes: EdgeChange[]) => setEdges((current) => applyEdgeChanges(changes, current)), []);
  const onConnect = useCallback((connection: Connection) => setEdges((current) => addEdge({ ...connection, label: branchLabel(connection as Edge) }, current)), []);

  function updateNode(id: string, change: (node: FlowNode) => FlowNode) {
    setNodes((current) => current.map((node) => (node.id === id ? change(node) : node)));
  }

  function addNode() {
    const id = freshId(kind, new Set(nodes.map((n) => n.id)));
    const column = nodes.length;
    const node: FlowNode = {
      id,
      type: "flow",
      position: { x: 40 + (column % 4) * 280, y: 40 + Math.floor(column / 4) * 200 },
      data: { kind, name: "", config: initialConfig(kind), problems: [] },
      selected: true,
    };
    setNodes((current) => [...current.map((n) => ({ ...n, selected: false })), node]);
    setSelected(id);
  }

  /** Chooses the node to edit, on the canvas too (React Flow reports its own selection back). */
  function choose(id: string | null) {
    setSelected(id);
    setNodes((current) => current.map((node) => (node.selected === (node.id === id) ? node : { ...node, selected: node.id === id })));
  }

  function removeNode(id: string) {
    setNodes((current) => current.filter((node) => node.id !== id));
    setEdges((current) => current.filter((edge) => edge.source !== id && edge.target !== id));
    setSelected(null);
  }

  function connect(connection: Connection) {
    onConnect(connection);
  }

  async function save() {
    setMessage(null);
    setFailure(null);
    const graph = toApi(nodes, edges);
    const result = flow
      ? await api.PATCH("/flows/{flow_id}", { params: { path: { flow_id: flow.id } }, body: { name, graph } })
      : await api.POST("/flows", { params: { header: { "Idempotency-Key": crypto.randomUUID() } }, body: { name, graph } });
    const found = result.error ? flowErrors(result.error) : [];
    setErrors(found);
    setNodes((current) =>
      current.map((node) => ({ ...node, data: { ...node.data, problems: found.filter((e) => e.node_id === node.id).map((e) => e.message) } })),
    );
    const badEdges = new Set(found.map((e) => e.edge_id).filter(Boolean));
    setEdges((current) =>
      current.map((edge, index) => {
        const bad = badEdges.has(apiEdgeKey(graph.edges![index]!));
        return { ...edge, className: bad ? "invalid" : undefined, label: bad ? "⚠ problem" : branchLabel(edge), ariaLabel: bad ? `Edge with a problem: ${edge.source} to ${edge.target}` : undefined };
      }),
    );
    if (result.error) return setFailure(problem(result.error));
    setFlow(result.data);
    const saved = `Saved version ${result.data.latest_version}`;
    setMessage(saved);
    if (!flow) navigate(`/flows/${result.data.id}`, { replace: true, state: { message: saved } });
  }

  async function remove() {
    if (!flow || !window.confirm(`Delete the flow “${flow.name}”?`)) return;
    const { error } = await api.DELETE("/flows/{flow_id}", { params: { path: { flow_id: flow.id } } });
    if (error) return setFailure(problem(error));
    navigate("/flows");
  }

  const current = nodes.find((node) => node.id === selected) ?? null;

  return (
    <div className="flow-editor">
      <div className="toolbar">
        <Link to="/flows">← All flows</Link>
        <h1>{flow ? flow.name : flowId ? "Flow" : "New flow"}</h1>
      </div>
      <div className="row flow-actions">
        <label>
          Flow name
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
        </label>
        <label>
          Node kind
          <select value={kind} onChange={(e) => setKind(e.target.value as NodeKind)}>
            {NODE_KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={addNode}>
          Add node
        </button>
        <button type="button" className="primary" onClick={() => void save()} disabled={!name.trim() || loading}>
          Save
        </button>
        {flow && (
          <button type="button" onClick={() => void remove()}>
            Delete flow
          </button>
        )}
      </div>
      <p role="status" className="status-line">
        {message ?? (loading ? "Loading…" : "")}
      </p>
      {failure && (
        <div role="alert" className="error flow-errors">
          <p>{failure}</p>
          {errors.length > 0 && (
            <ul aria-label="Flow problems">
              {errors.map((e, index) => (
                <li key={index}>
                  {e.node_id ? <strong>{e.node_id}: </strong> : e.edge_id ? <strong>edge {e.edge_id}: </strong> : null}
                  {e.message} {e.type && <span className="badge">{e.type}</span>}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <div className="flow-layout">
        <section className="flow-canvas card" aria-label="Flow graph">
          <ReactFlow<FlowNode, Edge>
            nodes={nodes}
            edges={edges}
            nodeTypes={NODE_TYPES}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onSelectionChange={({ nodes: chosen }) => chosen[0] && setSelected(chosen[0].id)}
            fitView
            fitViewOptions={FIT_VIEW}
            minZoom={0.3}
          >
            <Background />
            <FitOnResize />
            <Controls />
          </ReactFlow>
        </section>
        <aside className="card flow-panel" aria-label="Node settings">
          <label>
            Node to edit
            <select value={selected ?? ""} onChange={(e) => choose(e.target.value || null)}>
              <option value="">—</option>
              {nodes.map((node) => (
                <option key={node.id} value={node.id}>
                  {node.id} ({node.data.kind})
                </option>
              ))}
            </select>
          </label>
          {current ? (
            <NodePanel
              key={current.id}
              node={current}
              nodes={nodes}
              edges={edges}
              onChange={(change) => updateNode(current.id, change)}
              onConnect={connect}
              onRemoveEdge={(id) => setEdges((all) => all.filter((edge) => edge.id !== id))}
              onRemove={() => removeNode(current.id)}
            />
          ) : (
            <p className="placeholder">Add a node or choose one to edit its settings and connect it.</p>
          )}
        </aside>
      </div>
      {flow && <FlowRuns flow={flow} />}
    </div>
  );
}

function NodePanel({
  node,
  nodes,
  edges,
  onChange,
  onConnect,
  onRemoveEdge,
  onRemove,
}: {
  node: FlowNode;
  nodes: FlowNode[];
  edges: Edge[];
  onChange: (change: (node: FlowNode) => FlowNode) => void;
  onConnect: (connection: Connection) => void;
  onRemoveEdge: (id: string) => void;
  onRemove: () => void;
}) {
  const { kind, config } = node.data;
  const [json, setJson] = useState(() => JSON.stringify(config, null, 2));
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [portList, setPortList] = useState(() => portsText(config[kind === "start" ? "inputs" : "outputs"]));
  const [, sources] = handles(kind, config);
  const others = nodes.filter((n) => n.id !== node.id);
  const [fromPort, setFromPort] = useState(sources[0]?.name ?? "");
  const [toNode, setToNode] = useState(others[0]?.id ?? "");
  const target = nodes.find((n) => n.id === toNode);
  const targetPorts = useMemo(() => (target ? handles(target.data.kind, target.data.config)[0] : []), [target]);
  const [toPort, setToPort] = useState("");
  const chosenToPort = targetPorts.some((p) => p.name === toPort) ? toPort : (targetPorts[0]?.name ?? "");
  const chosenFromPort = sources.some((p) => p.name === fromPort) ? fromPort : (sources[0]?.name ?? "");

  function setConfig(next: Config) {
    onChange((n) => ({ ...n, data: { ...n.data, config: next } }));
    setJson(JSON.stringify(next, null, 2));
  }

  function applyJson(event: FormEvent) {
    event.preventDefault();
    try {
      const parsed: unknown = JSON.parse(json);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("The config is a JSON object");
      setJsonError(null);
      setConfig(parsed as Config);
    } catch (error) {
      setJsonError(error instanceof Error ? error.message : String(error));
    }
  }

  function connect(event: FormEvent) {
    event.preventDefault();
    if (!chosenFromPort || !toNode || !chosenToPort) return;
    onConnect({ source: node.id, sourceHandle: chosenFromPort, target: toNode, targetHandle: chosenToPort });
  }

  function setText(key: string, value: string) {
    const next = { ...config };
    if (value) next[key] = value;
    else delete next[key]; // an empty setting is a missing one
    setConfig(next);
  }

  const textSetting = (key: string, label: string, multiline = false) => (
    <label>
      {label}
      {multiline ? (
        <textarea value={String(config[key] ?? "")} onChange={(e) => setText(key, e.target.value)} rows={3} />
      ) : (
        <input value={String(config[key] ?? "")} onChange={(e) => setText(key, e.target.value)} />
      )}
    </label>
  );
  const touching = edges.filter((edge) => edge.source === node.id || edge.target === node.id);

  return (
    <div className="node-panel">
      <h2>
        {node.id} <span className="badge">{kind}</span>
      </h2>
      {node.data.problems.length > 0 && (
        <ul className="error" aria-label="Problems of this node">
          {node.data.problems.map((text, index) => (
            <li key={index}>{text}</li>
          ))}
        </ul>
      )}
      <label>
        Label
        <input value={node.data.name} onChange={(e) => onChange((n) => ({ ...n, data: { ...n.data, name: e.target.value } }))} maxLength={200} />
      </label>
      {(kind === "llm" || kind === "human_approval") && textSetting("prompt", "Prompt", true)}
      {kind === "agent" && textSetting("agent_id", "Agent id")}
      {kind === "crew" && textSetting("crew_id", "Crew id")}
      {kind === "tool" && textSetting("tool_id", "Tool id")}
      {(kind === "start" || kind === "end") && (
        <label>
          {kind === "start" ? "Flow inputs" : "Flow outputs"} (name:type, comma separated)
          <input
            value={portList}
            onChange={(e) => {
              setPortList(e.target.value);
              setConfig({ ...config, [kind === "start" ? "inputs" : "outputs"]: parsePorts(e.target.value) });
            }}
          />
        </label>
      )}
      <form onSubmit={applyJson}>
        <label>
          Settings (JSON)
          <textarea value={json} onChange={(e) => setJson(e.target.value)} rows={5} spellCheck={false} />
        </label>
        {jsonError && <p className="error">{jsonError}</p>}
        <button type="submit">Apply settings</button>
      </form>
      <form onSubmit={connect} aria-label="Connect">
        <h3>Connect</h3>
        <label>
          From output
          <select value={chosenFromPort} onChange={(e) => setFromPort(e.target.value)}>
            {sources.map((port) => (
              <option key={port.name} value={port.name}>
                {handleLabel(port.name)}
              </option>
            ))}
          </select>
        </label>
        <label>
          To node
          <select value={toNode} onChange={(e) => setToNode(e.target.value)}>
            {others.map((n) => (
              <option key={n.id}>{n.id}</option>
            ))}
          </select>
        </label>
        <label>
          To input
          <select value={chosenToPort} onChange={(e) => setToPort(e.target.value)}>
            {targetPorts.map((port) => (
              <option key={port.name}>{port.name}</option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={!chosenFromPort || !chosenToPort}>
          Connect
        </button>
      </form>
      <h3>Connections</h3>
      <ul className="edge-list">
        {touching.map((edge) => {
          const text = `${edge.source}.${handleLabel(edge.sourceHandle ?? "flow")} → ${edge.target}.${edge.targetHandle ?? "flow"}`;
          return (
            <li key={edge.id}>
              {text}{" "}
              <button type="button" className="link" onClick={() => onRemoveEdge(edge.id)} aria-label={`Remove ${text}`}>
                Remove
              </button>
            </li>
          );
        })}
      </ul>
      <button type="button" onClick={onRemove}>
        Delete node
      </button>
    </div>
  );
}

function FlowRuns({ flow }: { flow: Flow }) {
  const { api } = useServices();
  const navigate = useNavigate();
  const [input, setInput] = useState("{}");
  const [runs, setRuns] = useState<Execution[] | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    void api.GET("/flows/{flow_id}/executions", { params: { path: { flow_id: flow.id } } }).then(({ data }) => setRuns(data?.items ?? []));
  }, [api, flow.id, flow.version]);

  async function run(event: FormEvent) {
    event.preventDefault();
    let values: Record<string, unknown>;
    try {
      values = JSON.parse(input || "{}") as Record<string, unknown>;
    } catch {
      return setFailure("The run input is not valid JSON");
    }
    const { data, error } = await api.POST("/flows/{flow_id}/executions", { params: { path: { flow_id: flow.id } }, body: { input: values } });
    if (error) return setFailure(problem(error));
    navigate(`/flows/${flow.id}/executions/${data.id}`);
  }

  return (
    <section className="card flow-runs" aria-labelledby="runs-title">
      <h2 id="runs-title">Run</h2>
      <form onSubmit={(e) => void run(e)} className="row">
        <label className="grow">
          Run input (JSON)
          <input value={input} onChange={(e) => setInput(e.target.value)} spellCheck={false} />
        </label>
        <button type="submit" className="primary">
          Run flow
        </button>
      </form>
      <ErrorText message={failure} />
      <h3>Executions</h3>
      <ul aria-busy={runs === null} className="run-list">
        {runs?.length === 0 && <li className="placeholder">No runs yet.</li>}
        {runs?.map((run) => (
          <li key={run.id}>
            <Link to={`/flows/${flow.id}/executions/${run.id}`}>
              {new Date(run.started_at).toLocaleString()} · {run.status} · version {run.flow_version}
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}
