import { useCallback, useEffect, useState, type FormEvent } from "react";
import { problem, type Schemas } from "../api/client";
import { useServices } from "../context";
import { SchemaEditor } from "../schema/SchemaEditor";

type Tool = Schemas["ToolOut"];
type Builtin = Schemas["BuiltinToolOut"];
type Kind = Tool["kind"];
type Validation = Schemas["ValidateOut"];
type Scheme = "none" | "bearer" | "api_key" | "basic";

interface Draft {
  name: string;
  description: string;
  kind: Kind;
  inputSchema: string;
  outputSchema: string;
  method: string;
  url: string;
  serverUrl: string;
  toolName: string;
  headers: string;
  scheme: Scheme;
  headerName: string;
  source: string;
  builtin: string;
  secret: string;
}

const EMPTY: Draft = {
  name: "", description: "", kind: "http",
  inputSchema: '{\n  "type": "object",\n  "properties": {},\n  "required": []\n}', outputSchema: "",
  method: "GET", url: "https://", serverUrl: "https://", toolName: "", headers: "{}", scheme: "none",
  headerName: "X-API-Key", source: "def run(input):\n    return {}\n", builtin: "", secret: "",
};

function pretty(value: unknown): string {
  return value === null || value === undefined ? "" : JSON.stringify(value, null, 2);
}

function draftOf(tool: Tool): Draft {
  const config = tool.config as Record<string, unknown>;
  const auth = (config.auth ?? {}) as { scheme?: Scheme; header_name?: string };
  return {
    ...EMPTY, name: tool.name, description: tool.description, kind: tool.kind,
    inputSchema: pretty(tool.input_schema), outputSchema: pretty(tool.output_schema),
    method: String(config.method ?? "GET"), url: String(config.url ?? "https://"),
    serverUrl: String(config.server_url ?? "https://"), toolName: String(config.tool_name ?? ""),
    headers: pretty(config.headers ?? {}), scheme: auth.scheme ?? "none", headerName: auth.header_name ?? "X-API-Key",
    source: String(config.source ?? EMPTY.source), builtin: String(config.tool ?? ""),
  };
}

/** The request body's config for the draft's kind (headers parsed; a bad header object throws). */
function configOf(draft: Draft): Record<string, unknown> {
  const auth = { scheme: draft.scheme, ...(draft.scheme === "api_key" ? { header_name: draft.headerName } : {}) };
  const headers = draft.headers.trim() ? (JSON.parse(draft.headers) as Record<string, string>) : {};
  switch (draft.kind) {
    case "http":
      return { method: draft.method, url: draft.url, headers, auth };
    case "mcp":
      return { server_url: draft.serverUrl, tool_name: draft.toolName, headers, auth };
    case "code":
      return { source: draft.source };
    case "builtin":
      return { tool: draft.builtin };
  }
}

/** A problem+json's detail and, when it lists them, each field's problem. */
export function ProblemView({ error }: { error: unknown }) {
  const errors = (error as { errors?: { path?: string; message?: string }[] } | null)?.errors ?? [];
  return (
    <div role="alert" className="error">
      <p>{problem(error)}</p>
      {errors.length > 0 && (
        <ul>
          {errors.map((item, index) => (
            <li key={index}>
              <code>{item.path}</code> {item.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function ToolsPage() {
  const { api } = useServices();
  const [tools, setTools] = useState<Tool[] | null>(null);
  const [builtins, setBuiltins] = useState<Builtin[]>([]);
  const [editing, setEditing] = useState<Tool | "new" | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    const { data, error: failed } = await api.GET("/tools", { params: { query: { limit: 100 } } });
    if (failed) return setError(failed);
    setTools(data.items);
  }, [api]);
  useEffect(() => {
    void load();
    void api.GET("/tools/builtin", {}).then(({ data }) => setBuiltins(data?.items ?? []));
  }, [api, load]);

  async function remove(tool: Tool) {
    if (!window.confirm(`Delete the tool ${tool.name}?`)) return;
    const { error: failed } = await api.DELETE("/tools/{tool_id}", {
      params: { path: { tool_id: tool.id }, header: { "If-Match": `"${tool.version}"` } },
    });
    if (failed) return setError(failed);
    if (editing !== "new" && editing?.id === tool.id) setEditing(null);
    await load();
  }

  return (
    <div className="page tools">
      <div className="toolbar">
        <h1>Tools</h1>
        <button type="button" className="primary" onClick={() => setEditing("new")}>
          New tool
        </button>
      </div>
      {error !== null && <ProblemView error={error} />}
      <div className="builder">
        <div>
          <section className="card" aria-labelledby="tools-title">
            <h2 id="tools-title">Registered tools</h2>
            <ul className="list" aria-busy={tools === null} aria-label="Registered tools">
              {tools?.length === 0 && <li className="placeholder">No tools yet.</li>}
              {tools?.map((tool) => (
                <li key={tool.id} className="row item">
                  <button type="button" className="link grow" onClick={() => setEditing(tool)} aria-current={editing !== "new" && editing?.id === tool.id}>
                    {tool.name}
                  </button>
                  <span className="badge">{tool.kind}</span>
                  {(tool.kind === "http" || tool.kind === "mcp") && <span className="badge">secret {tool.has_secret ? "set" : "not set"}</span>}
                  <button type="button" onClick={() => void remove(tool)} aria-label={`Delete ${tool.name}`}>
                    Delete
                  </button>
                </li>
              ))}
            </ul>
          </section>
          <section className="card" aria-labelledby="builtin-title">
            <h2 id="builtin-title">Built-in tools</h2>
            <p className="hint">Usable by agents as <code>builtin:&lt;name&gt;</code> without registering.</p>
            <ul className="list">
              {builtins.map((tool) => (
                <li key={tool.id}>
                  <strong>{tool.name}</strong> {tool.read_only && <span className="badge">read-only</span>} <span className="hint">{tool.description}</span>
                </li>
              ))}
            </ul>
          </section>
        </div>
        {editing ? (
          <ToolEditor
            key={editing === "new" ? "new" : `${editing.id}-${editing.version}`}
            tool={editing === "new" ? null : editing}
            builtins={builtins}
            onSaved={(saved) => {
              setEditing(saved);
              void load();
            }}
          />
        ) : (
          <section className="card placeholder">Choose a tool or create one.</section>
        )}
      </div>
    </div>
  );
}

function ToolEditor({ tool, builtins, onSaved }: { tool: Tool | null; builtins: Builtin[]; onSaved: (tool: Tool) => void }) {
  const { api } = useServices();
  const [draft, setDraft] = useState<Draft>(tool ? draftOf(tool) : EMPTY);
  const [inputValid, setInputValid] = useState(true);
  const [outputValid, setOutputValid] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const [validation, setValidation] = useState<Validation | null>(null);
  const onInputValid = useCallback((valid: boolean) => setInputValid(valid), []);
  const onOutputValid = useCallback((valid: boolean) => setOutputValid(valid), []);
  const set = (change: Partial<Draft>) => setDraft((current) => ({ ...current, ...change }));
  const schemas = draft.kind !== "builtin";
  const secretKind = draft.kind === "http" || draft.kind === "mcp";
  const canSave = !saving && (!schemas || (inputValid && outputValid));

  async function save(event: FormEvent) {
    event.preventDefault();
    let config: Record<string, unknown>;
    try {
      config = configOf(draft);
    } catch {
      return setError({ detail: "Headers must be a JSON object of strings." });
    }
    let inputSchema: Record<string, unknown> | null = null;
    let outputSchema: Record<string, unknown> | null = null;
    try {
      // The editors' verdict lags typing by a moment: a schema that stopped parsing since is refused here.
      inputSchema = schemas ? (JSON.parse(draft.inputSchema) as Record<string, unknown>) : null;
      outputSchema = schemas && draft.outputSchema.trim() ? (JSON.parse(draft.outputSchema) as Record<string, unknown>) : null;
    } catch {
      return setError({ detail: "A schema is not valid JSON." });
    }
    const secret = secretKind && draft.secret ? draft.secret : null;
    setSaving(true);
    const answer = tool
      ? await api.PUT("/tools/{tool_id}", {
          params: { path: { tool_id: tool.id }, header: { "If-Match": `"${tool.version}"` } },
          body: { name: draft.name, description: draft.description, config, input_schema: inputSchema, output_schema: outputSchema, secret },
        })
      : await api.POST("/tools", {
          params: { header: { "Idempotency-Key": crypto.randomUUID() } },
          body: { name: draft.name, description: draft.description, kind: draft.kind, config, input_schema: inputSchema, output_schema: outputSchema, secret },
        });
    setSaving(false);
    if (answer.error) return setError(answer.error);
    setError(null);
    onSaved(answer.data);
  }

  async function validate() {
    if (!tool) return;
    setValidation(null);
    const { data, error: failed } = await api.POST("/tools/{tool_id}/validate", { params: { path: { tool_id: tool.id } }, body: {} });
    if (failed) return setError(failed);
    setValidation(data);
  }

  return (
    <section className="card" aria-labelledby="tool-editor-title">
      <h2 id="tool-editor-title">{tool ? `Edit ${tool.name}` : "New tool"}</h2>
      <form onSubmit={(e) => void save(e)}>
        <label>
          Name
          <input required value={draft.name} pattern="[A-Za-z][A-Za-z0-9_\-]{0,63}" onChange={(e) => set({ name: e.target.value })} />
        </label>
        <label>
          Description
          <textarea rows={2} value={draft.description} onChange={(e) => set({ description: e.target.value })} />
        </label>
        <label>
          Kind
          <select value={draft.kind} disabled={tool !== null} onChange={(e) => set({ kind: e.target.value as Kind })}>
            <option value="http">HTTP</option>
            <option value="mcp">MCP server tool</option>
            <option value="code">Python code (sandbox)</option>
            <option value="builtin">Built-in</option>
          </select>
        </label>
        {draft.kind === "http" && (
          <div className="row">
            <label>
              Method
              <select value={draft.method} onChange={(e) => set({ method: e.target.value })}>
                {["GET", "POST", "PUT", "PATCH", "DELETE"].map((method) => (
                  <option key={method}>{method}</option>
                ))}
              </select>
            </label>
            <label className="grow">
              URL
              <input required value={draft.url} onChange={(e) => set({ url: e.target.value })} />
            </label>
          </div>
        )}
        {draft.kind === "mcp" && (
          <>
            <label>
              Server URL
              <input required value={draft.serverUrl} onChange={(e) => set({ serverUrl: e.target.value })} />
            </label>
            <label>
              Tool name on the server
              <input required value={draft.toolName} onChange={(e) => set({ toolName: e.target.value })} />
            </label>
          </>
        )}
        {secretKind && (
          <>
            <label>
              Headers (JSON object)
              <textarea className="code" rows={2} value={draft.headers} onChange={(e) => set({ headers: e.target.value })} />
            </label>
            <div className="row">
              <label>
                Authentication
                <select value={draft.scheme} onChange={(e) => set({ scheme: e.target.value as Scheme })}>
                  <option value="none">None</option>
                  <option value="bearer">Bearer token</option>
                  <option value="api_key">API key header</option>
                  <option value="basic">Basic (user:password)</option>
                </select>
              </label>
              {draft.scheme === "api_key" && (
                <label>
                  Key header
                  <input value={draft.headerName} onChange={(e) => set({ headerName: e.target.value })} />
                </label>
              )}
            </div>
            <p data-testid="secret-status">
              Secret: <strong>{tool?.has_secret ? "set" : "not set"}</strong>
              {tool?.secret_set_at && <> (since {new Date(tool.secret_set_at).toLocaleString()})</>}
            </p>
            <label>
              {tool?.has_secret ? "Replace secret" : "Secret"}
              <input type="password" autoComplete="new-password" aria-describedby="secret-hint" value={draft.secret} onChange={(e) => set({ secret: e.target.value })} />
            </label>
            <small id="secret-hint" className="hint">
              Write-only: kept in Secrets Manager and never shown again; leave empty to keep the current one.
            </small>
          </>
        )}
        {draft.kind === "code" && (
          <label>
            Python source (def run(input) -&gt; dict)
            <textarea className="code" rows={8} value={draft.source} onChange={(e) => set({ source: e.target.value })} />
          </label>
        )}
        {draft.kind === "builtin" ? (
          <label>
            Built-in tool
            <select required value={draft.builtin} onChange={(e) => set({ builtin: e.target.value })}>
              <option value="">—</option>
              {builtins.map((item) => (
                <option key={item.name} value={item.name}>
                  {item.name}
                </option>
              ))}
            </select>
          </label>
        ) : (
          <>
            <SchemaEditor label="Input schema" text={draft.inputSchema} onText={(text) => set({ inputSchema: text })} onValid={onInputValid} objectOnly tryIt />
            <SchemaEditor label="Output schema (optional)" text={draft.outputSchema} onText={(text) => set({ outputSchema: text })} onValid={onOutputValid} optional />
          </>
        )}
        <div className="row">
          <button type="submit" className="primary" disabled={!canSave}>
            {saving ? "Saving…" : "Save tool"}
          </button>
          {tool && (
            <button type="button" onClick={() => void validate()}>
              Validate (dry run)
            </button>
          )}
        </div>
      </form>
      {error !== null && <ProblemView error={error} />}
      {validation && (
        <div className="validation" aria-live="polite">
          <h3>Dry run: {validation.ok ? "ok" : "problems"}</h3>
          {validation.problems.map((item, index) => (
            <p key={index} className="error">
              <code>{item.path}</code> {item.message}
            </p>
          ))}
          <pre className="result">{JSON.stringify({ input: validation.input, executed: validation.executed, output: validation.output, error: validation.error }, null, 2)}</pre>
        </div>
      )}
    </section>
  );
}
