import { useCallback, useEffect, useState, type FormEvent } from "react";
import { type Schemas } from "../api/client";
import { useServices } from "../context";
import { pollWithBackoff } from "../poll";
import { ProblemView } from "./Tools";

type Crew = Schemas["Crew"];
type CrewTask = Schemas["CrewTask"];
type Agent = Schemas["HostedAgent"];
type Run = Schemas["CrewRun"];
type Tool = Schemas["ToolOut"];
type Builtin = Schemas["BuiltinToolOut"];
type Provider = Schemas["Provider"];
type Selection = { kind: "crew"; crew: Crew | null } | { kind: "agent"; agent: Agent | null } | null;

export function CrewsPage() {
  const { api } = useServices();
  const [crews, setCrews] = useState<Crew[] | null>(null);
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [tools, setTools] = useState<Tool[]>([]);
  const [builtins, setBuiltins] = useState<Builtin[]>([]);
  const [providers, setProviders] = useState<Provider[]>([]);
  const [selection, setSelection] = useState<Selection>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    const [crewPage, agentPage] = await Promise.all([
      api.GET("/crews", { params: { query: { limit: 100 } } }),
      api.GET("/hosted-agents", { params: { query: { limit: 100 } } }),
    ]);
    if (crewPage.error) return setError(crewPage.error);
    if (agentPage.error) return setError(agentPage.error);
    setCrews(crewPage.data.items);
    setAgents(agentPage.data.items);
  }, [api]);
  useEffect(() => {
    void load();
    void api.GET("/tools", { params: { query: { limit: 100 } } }).then(({ data }) => setTools(data?.items ?? []));
    void api.GET("/tools/builtin", {}).then(({ data }) => setBuiltins(data?.items ?? []));
    void api.GET("/llm-providers", {}).then(({ data }) => setProviders(data?.items ?? []));
  }, [api, load]);

  const toolChoices = [
    ...tools.map((tool) => ({ id: tool.id, label: `${tool.name} (${tool.kind})` })),
    ...builtins.map((tool) => ({ id: tool.id, label: `${tool.name} (built-in)` })),
  ];

  return (
    <div className="page crews">
      <div className="toolbar">
        <h1>Crews</h1>
        <button type="button" className="primary" onClick={() => setSelection({ kind: "crew", crew: null })}>
          New crew
        </button>
        <button type="button" onClick={() => setSelection({ kind: "agent", agent: null })}>
          New agent
        </button>
      </div>
      {error !== null && <ProblemView error={error} />}
      <div className="builder">
        <div>
          <section className="card" aria-labelledby="crews-title">
            <h2 id="crews-title">Crews</h2>
            <ul className="list" aria-busy={crews === null} aria-label="Crews">
              {crews?.length === 0 && <li className="placeholder">No crews yet.</li>}
              {crews?.map((crew) => (
                <li key={crew.id} className="row item">
                  <button type="button" className="link grow" onClick={() => setSelection({ kind: "crew", crew })}>
                    {crew.name}
                  </button>
                  <span className="badge">{crew.process}</span>
                  <span className="badge">{crew.tasks.length} tasks</span>
                </li>
              ))}
            </ul>
          </section>
          <section className="card" aria-labelledby="agents-title">
            <h2 id="agents-title">Agents</h2>
            <ul className="list" aria-busy={agents === null} aria-label="Agents">
              {agents?.length === 0 && <li className="placeholder">No agents yet.</li>}
              {agents?.map((agent) => (
                <li key={agent.id} className="row item">
                  <button type="button" className="link grow" onClick={() => setSelection({ kind: "agent", agent })}>
                    {agent.name}
                  </button>
                  <span className="hint">{agent.role}</span>
                  <span className="badge">v{agent.version}</span>
                </li>
              ))}
            </ul>
          </section>
        </div>
        <div>
          {selection?.kind === "agent" && (
            <AgentEditor
              key={selection.agent ? `${selection.agent.id}-${selection.agent.version}` : "new"}
              agent={selection.agent}
              toolChoices={toolChoices}
              providers={providers}
              onSaved={(agent) => (setSelection({ kind: "agent", agent }), void load())}
            />
          )}
          {selection?.kind === "crew" && (
            <CrewEditor
              key={selection.crew ? `${selection.crew.id}-${selection.crew.version}` : "new"}
              crew={selection.crew}
              agents={agents ?? []}
              onSaved={(crew) => (setSelection({ kind: "crew", crew }), void load())}
            />
          )}
          {selection === null && <section className="card placeholder">Choose a crew or an agent, or create one.</section>}
        </div>
      </div>
    </div>
  );
}

function AgentEditor({ agent, toolChoices, providers, onSaved }: {
  agent: Agent | null; toolChoices: { id: string; label: string }[]; providers: Provider[]; onSaved: (agent: Agent) => void;
}) {
  const { api } = useServices();
  const [name, setName] = useState(agent?.name ?? "");
  const [role, setRole] = useState(agent?.role ?? "");
  const [goal, setGoal] = useState(agent?.goal ?? "");
  const [backstory, setBackstory] = useState(agent?.backstory ?? "");
  const [picked, setPicked] = useState<string[]>(agent?.tools ?? []);
  const [providerId, setProviderId] = useState(agent?.model?.provider_id ?? "");
  const [model, setModel] = useState(agent?.model?.model ?? "");
  const [temperature, setTemperature] = useState(String(agent?.temperature ?? 0.2));
  const [maxIterations, setMaxIterations] = useState(String(agent?.max_iterations ?? 8));
  const [memory, setMemory] = useState(agent?.memory ?? false);
  const [error, setError] = useState<unknown>(null);

  async function save(event: FormEvent) {
    event.preventDefault();
    const body = {
      name, role, goal, backstory, tools: picked, memory,
      temperature: Number(temperature), max_iterations: Number(maxIterations),
      model: providerId || model ? { provider_id: providerId || null, model: model || null } : null,
    };
    const answer = agent
      ? await api.PUT("/hosted-agents/{agent_id}", { params: { path: { agent_id: agent.id }, header: { "If-Match": `"${agent.version}"` } }, body })
      : await api.POST("/hosted-agents", { params: { header: { "Idempotency-Key": crypto.randomUUID() } }, body });
    if (answer.error) return setError(answer.error);
    setError(null);
    onSaved(answer.data);
  }

  return (
    <section className="card" aria-labelledby="agent-editor-title">
      <h2 id="agent-editor-title">{agent ? `Agent ${agent.name} (v${agent.version})` : "New agent"}</h2>
      <form onSubmit={(e) => void save(e)}>
        <label>
          Agent name
          <input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Role
          <input required maxLength={500} value={role} onChange={(e) => setRole(e.target.value)} />
        </label>
        <label>
          Goal
          <textarea required rows={2} maxLength={2000} value={goal} onChange={(e) => setGoal(e.target.value)} />
        </label>
        <label>
          Backstory
          <textarea rows={2} maxLength={4000} value={backstory} onChange={(e) => setBackstory(e.target.value)} />
        </label>
        <fieldset>
          <legend>Tools</legend>
          {toolChoices.length === 0 && <p className="hint">No tools: register some on the Tools page.</p>}
          <div className="checks">
            {toolChoices.map((tool) => (
              <label key={tool.id} className="inline">
                <input
                  type="checkbox"
                  checked={picked.includes(tool.id)}
                  onChange={(e) => setPicked(e.target.checked ? [...picked, tool.id] : picked.filter((id) => id !== tool.id))}
                />{" "}
                {tool.label}
              </label>
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>Model</legend>
          <div className="row">
            <label>
              Provider
              <select value={providerId} onChange={(e) => setProviderId(e.target.value)}>
                <option value="">Tenant default</option>
                {providers.map((provider) => (
                  <option key={provider.id} value={provider.id}>
                    {provider.name} ({provider.kind})
                  </option>
                ))}
              </select>
            </label>
            <label className="grow">
              Model id
              <input value={model} placeholder="the provider's default" onChange={(e) => setModel(e.target.value)} />
            </label>
          </div>
          <div className="row">
            <label>
              Temperature
              <input type="number" min={0} max={1} step={0.1} value={temperature} onChange={(e) => setTemperature(e.target.value)} />
            </label>
            <label>
              Max tool calls
              <input type="number" min={1} max={25} value={maxIterations} onChange={(e) => setMaxIterations(e.target.value)} />
            </label>
            <label className="inline">
              <input type="checkbox" checked={memory} onChange={(e) => setMemory(e.target.checked)} /> Memory
            </label>
          </div>
        </fieldset>
        <button type="submit" className="primary">
          Save agent
        </button>
      </form>
      {error !== null && <ProblemView error={error} />}
    </section>
  );
}

function CrewEditor({ crew, agents, onSaved }: { crew: Crew | null; agents: Agent[]; onSaved: (crew: Crew) => void }) {
  const { api } = useServices();
  const [name, setName] = useState(crew?.name ?? "");
  const [description, setDescription] = useState(crew?.description ?? "");
  const [members, setMembers] = useState<string[]>(crew?.members ?? []);
  const [process, setProcess] = useState<Crew["process"]>(crew?.process ?? "sequential");
  const [manager, setManager] = useState(crew?.manager_agent_id ?? "");
  const [maxSteps, setMaxSteps] = useState(String(crew?.max_steps ?? 10));
  const [tasks, setTasks] = useState<CrewTask[]>(crew?.tasks ?? [{ id: "task-1", description: "", expected_output: "", agent_id: null, context: [] }]);
  const [inputs, setInputs] = useState('{\n  "topic": "solar batteries"\n}');
  const [error, setError] = useState<unknown>(null);
  const [runsVersion, setRunsVersion] = useState(0);
  const [runId, setRunId] = useState<string | null>(null);
  const agentName = (id: string) => agents.find((agent) => agent.id === id)?.name ?? id;

  function changeTask(index: number, change: Partial<CrewTask>) {
    setTasks(tasks.map((task, at) => (at === index ? { ...task, ...change } : task)));
  }
  function moveTask(index: number, by: number) {
    const next = [...tasks];
    const [moved] = next.splice(index, 1);
    next.splice(index + by, 0, moved!);
    setTasks(next);
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    const body = {
      name, description, members, process, max_steps: Number(maxSteps),
      manager_agent_id: process === "hierarchical" ? manager || null : null,
      tasks: tasks.map((task) => ({ ...task, agent_id: task.agent_id || null })),
    };
    const answer = crew
      ? await api.PUT("/crews/{crew_id}", { params: { path: { crew_id: crew.id }, header: { "If-Match": `"${crew.version}"` } }, body })
      : await api.POST("/crews", { params: { header: { "Idempotency-Key": crypto.randomUUID() } }, body });
    if (answer.error) return setError(answer.error);
    setError(null);
    onSaved(answer.data);
  }

  async function test() {
    if (!crew) return;
    let parsed: Record<string, string | number | boolean>;
    try {
      parsed = inputs.trim() ? (JSON.parse(inputs) as Record<string, string | number | boolean>) : {};
    } catch (failure) {
      return setError({ detail: `Inputs are not JSON: ${failure instanceof Error ? failure.message : String(failure)}` });
    }
    const { data, error: failed } = await api.POST("/crews/{crew_id}/test", {
      params: { path: { crew_id: crew.id }, header: { "Idempotency-Key": crypto.randomUUID() } },
      body: { inputs: parsed },
    });
    if (failed) return setError(failed);
    setError(null);
    setRunId(data.id);
    setRunsVersion((version) => version + 1);
  }

  return (
    <>
      <section className="card" aria-labelledby="crew-editor-title">
        <h2 id="crew-editor-title">{crew ? `Crew ${crew.name} (v${crew.version})` : "New crew"}</h2>
        <form onSubmit={(e) => void save(e)}>
          <label>
            Crew name
            <input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label>
            Description
            <textarea rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />
          </label>
          <fieldset>
            <legend>Members</legend>
            {agents.length === 0 && <p className="hint">No agents yet: create some with “New agent”.</p>}
            <div className="checks">
              {agents.map((agent) => (
                <label key={agent.id} className="inline">
                  <input
                    type="checkbox"
                    checked={members.includes(agent.id)}
                    onChange={(e) => setMembers(e.target.checked ? [...members, agent.id] : members.filter((id) => id !== agent.id))}
                  />{" "}
                  {agent.name} <span className="hint">— {agent.role}</span>
                </label>
              ))}
            </div>
          </fieldset>
          <div className="row">
            <label>
              Process
              <select value={process} onChange={(e) => setProcess(e.target.value as Crew["process"])}>
                <option value="sequential">Sequential: tasks in order</option>
                <option value="hierarchical">Hierarchical: a manager delegates</option>
              </select>
            </label>
            {process === "hierarchical" && (
              <>
                <label>
                  Manager
                  <select required value={manager} onChange={(e) => setManager(e.target.value)}>
                    <option value="">—</option>
                    {agents.map((agent) => (
                      <option key={agent.id} value={agent.id}>
                        {agent.name}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  Max delegations
                  <input type="number" min={1} max={50} value={maxSteps} onChange={(e) => setMaxSteps(e.target.value)} />
                </label>
              </>
            )}
          </div>
          <h3>Tasks, in order</h3>
          <ol className="crew-tasks">
            {tasks.map((task, index) => (
              <li key={index} className="crew-task">
                <fieldset>
                  <legend>Task {index + 1}</legend>
                  <label>
                    Task id
                    <input required pattern="[A-Za-z0-9][A-Za-z0-9_\-]{0,63}" value={task.id} onChange={(e) => changeTask(index, { id: e.target.value })} />
                  </label>
                  <label>
                    Task description
                    <textarea required rows={2} value={task.description} placeholder="May name inputs as {topic}" onChange={(e) => changeTask(index, { description: e.target.value })} />
                  </label>
                  <label>
                    Expected output
                    <input required value={task.expected_output} onChange={(e) => changeTask(index, { expected_output: e.target.value })} />
                  </label>
                  <label>
                    Assigned agent
                    <select value={task.agent_id ?? ""} onChange={(e) => changeTask(index, { agent_id: e.target.value || null })}>
                      <option value="">{process === "hierarchical" ? "The manager decides" : "—"}</option>
                      {members.map((id) => (
                        <option key={id} value={id}>
                          {agentName(id)}
                        </option>
                      ))}
                    </select>
                  </label>
                  {index > 0 && (
                    <div className="checks" role="group" aria-label={`Task ${index + 1} uses the output of`}>
                      <span className="hint">Uses the output of:</span>
                      {tasks.slice(0, index).map((earlier) => (
                        <label key={earlier.id} className="inline">
                          <input
                            type="checkbox"
                            checked={(task.context ?? []).includes(earlier.id)}
                            onChange={(e) =>
                              changeTask(index, { context: e.target.checked ? [...(task.context ?? []), earlier.id] : (task.context ?? []).filter((id) => id !== earlier.id) })
                            }
                          />{" "}
                          {earlier.id}
                        </label>
                      ))}
                    </div>
                  )}
                  <div className="row">
                    <button type="button" disabled={index === 0} onClick={() => moveTask(index, -1)} aria-label={`Move task ${index + 1} up`}>
                      ↑
                    </button>
                    <button type="button" disabled={index === tasks.length - 1} onClick={() => moveTask(index, 1)} aria-label={`Move task ${index + 1} down`}>
                      ↓
                    </button>
                    <button type="button" disabled={tasks.length === 1} onClick={() => setTasks(tasks.filter((_, at) => at !== index))}>
                      Remove task {index + 1}
                    </button>
                  </div>
                </fieldset>
              </li>
            ))}
          </ol>
          <div className="row">
            <button type="button" onClick={() => setTasks([...tasks, { id: `task-${tasks.length + 1}`, description: "", expected_output: "", agent_id: null, context: [] }])}>
              Add task
            </button>
            <button type="submit" className="primary">
              Save crew
            </button>
          </div>
        </form>
        {error !== null && <ProblemView error={error} />}
        {crew && (
          <div className="test-crew">
            <h3>Test the crew</h3>
            <label>
              Inputs (JSON object)
              <textarea className="code" rows={3} value={inputs} onChange={(e) => setInputs(e.target.value)} />
            </label>
            <button type="button" onClick={() => void test()}>
              Test crew
            </button>
          </div>
        )}
      </section>
      {crew && <Runs crewId={crew.id} refresh={runsVersion} selected={runId} onSelect={setRunId} agentName={agentName} />}
    </>
  );
}

function Runs({ crewId, refresh, selected, onSelect, agentName }: {
  crewId: string; refresh: number; selected: string | null; onSelect: (id: string) => void; agentName: (id: string) => string;
}) {
  const { api } = useServices();
  const [runs, setRuns] = useState<Run[] | null>(null);
  const load = useCallback(async () => {
    const { data } = await api.GET("/crews/{crew_id}/runs", { params: { path: { crew_id: crewId }, query: { limit: 20 } } });
    setRuns(data?.items ?? []);
  }, [api, crewId]);
  useEffect(() => void load(), [load, refresh]);
  const ended = useCallback(() => void load(), [load]);

  return (
    <section className="card" aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      <ul className="list" aria-busy={runs === null}>
        {runs?.length === 0 && <li className="placeholder">No runs yet.</li>}
        {runs?.map((run) => (
          <li key={run.id}>
            <button type="button" className="link" aria-current={run.id === selected} onClick={() => onSelect(run.id)}>
              {new Date(run.started_at).toLocaleString()} · {run.status}
            </button>
          </li>
        ))}
      </ul>
      {selected && <RunView key={selected} crewId={crewId} runId={selected} agentName={agentName} onEnded={ended} />}
    </section>
  );
}

function RunView({ crewId, runId, agentName, onEnded }: { crewId: string; runId: string; agentName: (id: string) => string; onEnded: () => void }) {
  const { api } = useServices();
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(
    () =>
      pollWithBackoff(async () => {
        const { data, error: failed } = await api.GET("/crews/{crew_id}/runs/{run_id}", { params: { path: { crew_id: crewId, run_id: runId } } });
        if (failed) {
          setError(failed);
          return "done";
        }
        let changed = false;
        setRun((previous) => {
          changed = !previous || previous.status !== data.status || previous.outputs.length !== data.outputs.length;
          return data;
        });
        if (data.status !== "running") {
          onEnded();
          return "done";
        }
        return changed ? "changed" : "same";
      }),
    [api, crewId, runId, onEnded],
  );

  async function cancel() {
    const { data, error: failed } = await api.POST("/crews/{crew_id}/runs/{run_id}/cancel", { params: { path: { crew_id: crewId, run_id: runId } } });
    if (failed) return setError(failed);
    setRun(data);
  }

  return (
    <div className="run" aria-label="Run" role="region">
      {!run ? (
        <p className="placeholder">Loading…</p>
      ) : (
        <>
          <h3>
            Run <span className="badge" data-testid="run-status">{run.status}</span>
          </h3>
          <p className="hint">
            {run.steps} steps · {run.usage.totalTokens ?? 0} tokens
            {run.tools_used.length > 0 && <> · tools: {run.tools_used.join(", ")}</>}
          </p>
          <div className="row">
            {run.status === "running" && (
              <button type="button" onClick={() => void cancel()}>
                Cancel run
              </button>
            )}
            {run.console_url && (
              <a href={run.console_url} target="_blank" rel="noreferrer">
                Step Functions execution
              </a>
            )}
          </div>
          {run.error && (
            <p className="error">
              {run.failed_task && <>Task {run.failed_task}: </>}
              {run.error}
            </p>
          )}
          <ol className="outputs">
            {run.outputs.map((output) => (
              <li key={output.task_id}>
                <strong>{output.task_id}</strong> by {agentName(output.agent_id)} (v{output.agent_version})
                <pre className="result">{output.text}</pre>
              </li>
            ))}
          </ol>
          {run.result && (
            <>
              <h4>Result</h4>
              <pre className="result" data-testid="run-result">{run.result}</pre>
            </>
          )}
        </>
      )}
      {error !== null && <ProblemView error={error} />}
    </div>
  );
}
