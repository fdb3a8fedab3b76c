import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { problem, type Job, type Schemas } from "../api/client";
import { useServices } from "../context";
import { pollWithBackoff } from "../poll";
import { stepFunctionsLink } from "../stepFunctions";
import { useTopic } from "../live";
import { ErrorText } from "../ErrorText";

type JobType = Schemas["JobTypeInfo"];
type JobEvent = Schemas["JobEvent"];
interface FieldSchema {
  type?: string | string[];
  enum?: unknown[];
  title?: string;
  description?: string;
  default?: unknown;
  anyOf?: FieldSchema[];
  maxLength?: number;
}
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "dead_lettered"]);

function fieldType(schema: FieldSchema): string {
  const types = schema.anyOf ? schema.anyOf.map((part) => part.type).flat() : [schema.type].flat();
  return (types.find((type) => type && type !== "null") as string | undefined) ?? "string";
}

export function JobsPage() {
  const { api } = useServices();
  const [types, setTypes] = useState<JobType[]>([]);
  const [chosen, setChosen] = useState<string>("");
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const loadJobs = useCallback(async () => {
    const { data } = await api.GET("/jobs", {});
    setJobs(data?.items ?? []);
  }, [api]);

  useEffect(() => {
    void api.GET("/jobs/types", {}).then(({ data }) => {
      setTypes(data ?? []);
      if (data?.[0]) setChosen(data[0].name);
    });
    void loadJobs();
  }, [api, loadJobs]);

  const type = types.find((item) => item.name === chosen);
  const schema = (type?.params_schema ?? {}) as { properties?: Record<string, FieldSchema>; required?: string[] };
  const fields = Object.entries(schema.properties ?? {});

  async function submit(event: FormEvent) {
    event.preventDefault();
    const params: Record<string, unknown> = {};
    for (const [name, field] of fields) {
      const value = values[name];
      if (value === undefined || value === "") continue;
      const kind = fieldType(field);
      params[name] = kind === "integer" || kind === "number" ? Number(value) : kind === "array" ? String(value).split(",").map((s) => s.trim()).filter(Boolean) : value;
    }
    const { data, error: failed } = await api.POST("/jobs", {
      params: { header: { "Idempotency-Key": crypto.randomUUID() } },
      body: { type: chosen, params },
    });
    if (failed) return setError(problem(failed));
    setError(null);
    setSelected(data.id);
    await loadJobs();
  }

  return (
    <div className="page jobs">
      <div className="toolbar">
        <h1>Jobs</h1>
      </div>
      <div className="columns">
        <section className="card" aria-labelledby="submit-title">
          <h2 id="submit-title">Run a job</h2>
          <form onSubmit={(e) => void submit(e)}>
            <label>
              Type
              <select value={chosen} onChange={(e) => (setChosen(e.target.value), setValues({}))}>
                {types.map((item) => (
                  <option key={item.name} value={item.name}>
                    {item.name}
                  </option>
                ))}
              </select>
            </label>
            {type && <p className="hint">{type.description}</p>}
            {fields.map(([name, field]) => {
              const kind = fieldType(field);
              const label = `${field.title ?? name}${schema.required?.includes(name) ? " (required)" : ""}`;
              const value = values[name] ?? (field.default as string | undefined) ?? "";
              if (field.enum || field.anyOf?.some((part) => part.enum)) {
                const options = field.enum ?? field.anyOf?.find((part) => part.enum)?.enum ?? [];
                return (
                  <label key={name}>
                    {label}
                    <select value={String(value)} onChange={(e) => setValues({ ...values, [name]: e.target.value })}>
                      <option value="">—</option>
                      {options.map((option) => (
                        <option key={String(option)}>{String(option)}</option>
                      ))}
                    </select>
                  </label>
                );
              }
              if (kind === "boolean") {
                return (
                  <label key={name} className="inline">
                    <input type="checkbox" checked={Boolean(values[name])} onChange={(e) => setValues({ ...values, [name]: e.target.checked })} /> {label}
                  </label>
                );
              }
              return (
                <label key={name}>
                  {label}
                  <input
                    type={kind === "integer" || kind === "number" ? "number" : "text"}
                    required={schema.required?.includes(name)}
                    value={String(value)}
                    onChange={(e) => setValues({ ...values, [name]: e.target.value })}
                  />
                  {field.description && <small>{field.description}</small>}
                </label>
              );
            })}
            <button type="submit" className="primary" disabled={!chosen}>
              Run
            </button>
          </form>
          <ErrorText message={error} />
          <h2>Recent jobs</h2>
          <ul aria-busy={jobs === null}>
            {jobs?.map((job) => (
              <li key={job.id}>
                <button type="button" className="link" onClick={() => setSelected(job.id)}>
                  {job.type} · {job.status} · {job.progress}%
                </button>
              </li>
            ))}
          </ul>
        </section>
        {selected ? <JobView key={selected} jobId={selected} onChange={() => void loadJobs()} /> : <section className="card placeholder">Choose or run a job.</section>}
      </div>
    </div>
  );
}

/**
 * One job: live over the WebSocket (`job:<id>`: job.progress, job.succeeded, job.failed) while the socket is open,
 * else polled with backoff (1 s, growing to 5 s) until it ends.
 */
function JobView({ jobId, onChange }: { jobId: string; onChange: () => void }) {
  const { api, config } = useServices();
  const [job, setJob] = useState<Job | null>(null);
  const [events, setEvents] = useState<JobEvent[]>([]);
  const [error, setError] = useState<string | null>(null);
  /** The newest progress a frame brought: frames can come before the first read answers (the socket is often open
   * already, and a subscription replays what the job did before it), and a read that left earlier is behind them. */
  const framed = useRef<{ progress: number; message?: string } | null>(null);

  /** Reads the job and its timeline; answers whether it ended, or null when the read failed. */
  const refresh = useCallback(async (): Promise<Job | null> => {
    const { data, error: failed } = await api.GET("/jobs/{job_id}", { params: { path: { job_id: jobId } } });
    if (failed) {
      setError(problem(failed));
      return null;
    }
    const ahead = framed.current;
    const behind = !TERMINAL.has(data.status) && ahead !== null && ahead.progress > data.progress;
    setJob(behind ? { ...data, progress: ahead.progress, message: ahead.message ?? data.message } : data);
    const timeline = await api.GET("/jobs/{job_id}/events", { params: { path: { job_id: jobId } } });
    setEvents(timeline.data?.events ?? []);
    if (TERMINAL.has(data.status)) onChange();
    return data;
  }, [api, jobId, onChange]);

  const live = useTopic(`job:${jobId}`, (event) => {
    if (event.detail_type === "job.progress" && typeof event.data.progress === "number") {
      const progress = event.data.progress;
      const message = typeof event.data.message === "string" ? event.data.message : undefined;
      framed.current = { progress, message: message ?? framed.current?.message }; // frames come in order
      setJob((current) => (current ? { ...current, progress, message: message ?? current.message } : current));
    } else {
      void refresh(); // an outcome: read the final record (result or error) and timeline
    }
  });

  useEffect(() => {
    if (live) {
      // Catch up once (events before the subscription); the socket brings the rest.
      void refresh();
      return;
    }
    let previous: Job | null = null;
    return pollWithBackoff(async () => {
      const data = await refresh();
      if (!data || TERMINAL.has(data.status)) return "done";
      const changed = !previous || previous.progress !== data.progress || previous.status !== data.status;
      previous = data;
      return changed ? "changed" : "same";
    });
  }, [refresh, live]);

  async function cancel() {
    const { error: failed } = await api.POST("/jobs/{job_id}/cancel", { params: { path: { job_id: jobId } } });
    if (failed) setError(problem(failed));
    else void refresh(); // no live event announces a cancel
  }

  return (
    <section className="card job" aria-label="Job" data-live={live ? "socket" : "polling"}>
      {!job ? (
        <p className="placeholder">Loading…</p>
      ) : (
        <>
          <h2>
            {job.type} <span className="badge">{job.status}</span>
          </h2>
          <label>
            Progress
            <progress max={100} value={job.progress} aria-valuetext={`${job.progress}%`} />
          </label>
          <p>
            <span data-testid="job-progress">{job.progress}%</span>
            {job.eta && !TERMINAL.has(job.status) && <> · ETA {new Date(job.eta).toLocaleTimeString()}</>}
            {job.message && <> · {job.message}</>}
          </p>
          <div className="row">
            {!TERMINAL.has(job.status) && (
              <button type="button" onClick={() => void cancel()}>
                Cancel
              </button>
            )}
            {stepFunctionsLink(job, config.stepFunctionsConsole) && (
              <a href={stepFunctionsLink(job, config.stepFunctionsConsole)!} target="_blank" rel="noreferrer">
                Step Functions execution
              </a>
            )}
          </div>
          {job.result && (
            <>
              <h3>Result</h3>
              <pre className="result">{JSON.stringify(job.result, null, 2)}</pre>
            </>
          )}
          {job.error && <p className="error">{JSON.stringify(job.error)}</p>}
          <h3>Timeline</h3>
          <ol className="timeline">
            {events.map((event, index) => (
              <li key={index}>
                {new Date(event.at).toLocaleTimeString()} · {event.type} {event.state ?? ""}
              </li>
            ))}
          </ol>
        </>
      )}
      <ErrorText message={error} />
    </section>
  );
}
