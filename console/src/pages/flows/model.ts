/** The flow editor's graph and the API's flow definition (`FlowGraph`), mapped both ways, and the ports of each node
 * kind (as `functions/crewhouse/flows/graph.py` defines them, so the editor can offer the handles to connect). */
import type { Edge as EditorEdge, Node as EditorNode } from "@xyflow/react";
import type { Schemas } from "../../api/client";

export type FlowGraph = Schemas["FlowGraph"];
export type ApiNode = FlowGraph["nodes"] extends (infer N)[] | undefined ? N : never;
export type ApiEdge = FlowGraph["edges"] extends (infer E)[] | undefined ? E : never;
export type NodeKind = ApiNode["kind"];
export type Config = Record<string, unknown>;

export const NODE_KINDS: NodeKind[] = [
  "start", "end", "llm", "agent", "crew", "tool", "condition", "parallel", "join", "map", "human_approval",
];
export const CONTROL_PORT = "flow";
/** A condition's edges leave from one handle per branch: `branch:<name>` (the API's source port is `flow`). */
const BRANCH_HANDLE = "branch:";

export type RunState = "pending" | "running" | "succeeded" | "failed";
export interface NodeData extends Record<string, unknown> {
  kind: NodeKind;
  name: string;
  config: Config;
  problems: string[];
  state?: RunState;
}
export type FlowNode = EditorNode<NodeData, "flow">;
export interface Port {
  name: string;
  type: string;
  required?: boolean;
}

const FIXED: Partial<Record<NodeKind, [Port[], Port[]]>> = {
  agent: [[{ name: "task", type: "string", required: true }, { name: "context", type: "any" }],
    [{ name: "text", type: "string" }, { name: "usage", type: "object" }]],
  crew: [[{ name: "inputs", type: "object" }, { name: "context", type: "any" }],
    [{ name: "text", type: "string" }, { name: "tasks", type: "array" }, { name: "usage", type: "object" }]],
  llm: [[{ name: "prompt", type: "string", required: true }, { name: "context", type: "any" }],
    [{ name: "text", type: "string" }, { name: "usage", type: "object" }]],
  human_approval: [[{ name: "details", type: "any" }], [{ name: "approved", type: "boolean" }, { name: "comment", type: "string" }]],
  map: [[{ name: "items", type: "array", required: true }], [{ name: "results", type: "array" }]],
  parallel: [[], []],
  join: [[], []],
};

function declared(value: unknown): Port[] {
  return Array.isArray(value)
    ? value.filter((p): p is Port => !!p && typeof (p as Port).name === "string").map((p) => ({ name: p.name, type: p.type ?? "any" }))
    : [];
}

function schemaPorts(schema: unknown): Port[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> } | null)?.properties;
  if (!properties || typeof properties !== "object") return [];
  return Object.entries(properties).map(([name, spec]) => ({ name, type: typeof spec?.type === "string" ? spec.type : "any" }));
}

/** The node's data ports: `[inputs, outputs]`, without the control port. */
export function dataPorts(kind: NodeKind, config: Config): [Port[], Port[]] {
  const fixed = FIXED[kind];
  if (fixed) return fixed;
  if (kind === "start") return [[], declared(config.inputs)];
  if (kind === "end") return [declared(config.outputs), []];
  if (kind === "tool") {
    return [
      config.input_schema ? schemaPorts(config.input_schema) : [{ name: "input", type: "object" }],
      config.output_schema ? schemaPorts(config.output_schema) : [{ name: "result", type: "any" }],
    ];
  }
  if (kind === "condition") {
    const branches = Array.isArray(config.branches) ? (config.branches as { when?: { port?: string } }[]) : [];
    const names = [...new Set(branches.map((b) => b.when?.port).filter((p): p is string => typeof p === "string"))];
    return [names.map((name) => ({ name, type: "any", required: true })), []];
  }
  return [[], []];
}

export function branchNames(config: Config): string[] {
  const branches = Array.isArray(config.branches) ? (config.branches as { name?: string }[]) : [];
  return [...branches.map((b) => b.name).filter((n): n is string => typeof n === "string"), String(config.default ?? "default")];
}

/** Handles (ids) a node offers: `[targets, sources]`, control port included. */
export function handles(kind: NodeKind, config: Config): [Port[], Port[]] {
  const [inputs, outputs] = dataPorts(kind, config);
  const control: Port = { name: CONTROL_PORT, type: "control" };
  const targets = kind === "start" ? inputs : [...inputs, control];
  if (kind === "condition") {
    return [targets, branchNames(config).map((name) => ({ name: `${BRANCH_HANDLE}${name}`, type: "control" }))];
  }
  return [targets, kind === "end" ? outputs : [...outputs, control]];
}

export function handleLabel(handle: string): string {
  return handle.startsWith(BRANCH_HANDLE) ? `branch ${handle.slice(BRANCH_HANDLE.length)}` : handle;
}

/** A configuration a new node of `kind` starts with (the required settings with a placeholder to fill in). */
export function initialConfig(kind: NodeKind): Config {
  switch (kind) {
    case "start": return { inputs: [] };
    case "end": return { outputs: [] };
    case "llm": return {}; // the prompt comes from an edge or this setting: validation says when neither
    case "agent": return { agent_id: "" };
    case "crew": return { crew_id: "" };
    case "tool": return { tool_id: "" };
    case "condition": return { branches: [{ name: "yes", when: { port: "value", operator: "is_true" } }], default: "default" };
    case "map": return { body: { nodes: [], edges: [] } };
    case "human_approval": return { prompt: "Approve?" };
    default: return {};
  }
}

/** An id not used yet: the kind itself, then kind_2, kind_3 … */
export function freshId(kind: NodeKind, taken: Set<string>): string {
  if (!taken.has(kind)) return kind;
  for (let n = 2; ; n += 1) if (!taken.has(`${kind}_${n}`)) return `${kind}_${n}`;
}

export function edgeId(edge: ApiEdge): string {
  return edge.id ?? `${edge.source}.${edge.source_port}->${edge.target}.${edge.target_port}${edge.branch ? `@${edge.branch}` : ""}`;
}

/** Where nodes without a saved position go: one column per topological level (longest path from a root). */
export function levelLayout(nodes: ApiNode[], edges: ApiEdge[]): Map<string, { x: number; y: number }> {
  const level = new Map<string, number>(nodes.map((n) => [n.id, 0]));
  for (let round = 0; round < nodes.length; round += 1) {
    let moved = false;
    for (const edge of edges) {
      const next = (level.get(edge.source) ?? 0) + 1;
      if (level.has(edge.target) && next > (level.get(edge.target) ?? 0) && next < nodes.length) {
        level.set(edge.target, next);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const rows = new Map<number, number>();
  const placed = new Map<string, { x: number; y: number }>();
  for (const node of nodes) {
    const column = level.get(node.id) ?? 0;
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    placed.set(node.id, { x: 40 + column * 280, y: 40 + row * 180 });
  }
  return placed;
}

export function toEditor(graph: FlowGraph): { nodes: FlowNode[]; edges: EditorEdge[] } {
  const apiNodes = graph.nodes ?? [];
  const apiEdges = graph.edges ?? [];
  const layout = levelLayout(apiNodes, apiEdges);
  const nodes: FlowNode[] = apiNodes.map((node) => ({
    id: node.id,
    type: "flow",
    position: node.position ? { x: node.position.x, y: node.position.y } : layout.get(node.id)!,
    data: { kind: node.kind, name: node.name ?? "", config: (node.config ?? {}) as Config, problems: [] },
  }));
  const edges: EditorEdge[] = apiEdges.map((edge) => ({
    id: edgeId(edge),
    source: edge.source,
    target: edge.target,
    sourceHandle: edge.branch ? `${BRANCH_HANDLE}${edge.branch}` : edge.source_port,
    targetHandle: edge.target_port,
    label: edge.branch ? `branch ${edge.branch}` : undefined,
  }));
  return { nodes, edges };
}

/** The key the API names an edge by in its problems (`Edge.key` in graph.py: the edges are saved without ids). */
export function apiEdgeKey(edge: ApiEdge): string {
  return `${edge.source}.${edge.source_port}->${edge.target}.${edge.target_port}`;
}

export function toApi(nodes: FlowNode[], edges: EditorEdge[]): FlowGraph {
  return {
    nodes: nodes.map((node) => ({
      id: node.id,
      kind: node.data.kind,
      name: node.data.name || null,
      config: node.data.config,
      position: { x: Math.round(node.position.x), y: Math.round(node.position.y) },
    })),
    edges: edges.map((edge) => {
      const handle = edge.sourceHandle ?? CONTROL_PORT;
      const branch = handle.startsWith(BRANCH_HANDLE) ? handle.slice(BRANCH_HANDLE.length) : null;
      return {
        source: edge.source,
        source_port: branch ? CONTROL_PORT : handle,
        target: edge.target,
        target_port: edge.targetHandle ?? CONTROL_PORT,
        ...(branch ? { branch } : {}),
      };
    }),
  };
}

/** One of a 422's `errors`: where, what, and the node or edge it is on (`flows/validation.py`'s problem_error). */
export interface FlowError {
  path?: string;
  message: string;
  type?: string;
  node_id?: string;
  edge_id?: string;
  scope?: string[];
}

export function flowErrors(error: unknown): FlowError[] {
  const errors = (error as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.map((item) => {
    const e = item as Partial<FlowError> & { msg?: string; loc?: unknown[] };
    return { ...e, message: e.message ?? e.msg ?? JSON.stringify(item), node_id: e.scope?.[0] ?? e.node_id } as FlowError;
  });
}
