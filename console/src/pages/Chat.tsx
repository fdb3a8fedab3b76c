/**
 * The chat: sessions, a conversation, and a turn's tool calls shown as they happen. While a turn runs, each
 * `chat.tool_call` frame of the session's topic (`chat:<session id>`, crewhouse.chat.logic) adds a row to the
 * assistant's pending reply; the turn's HTTP response then replaces the pending reply with the stored one, whose
 * `tool_calls` are the same calls (so none shows twice). Without a WebSocket the reply shows them when it returns.
 */
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { problem, type Schemas } from "../api/client";
import { useServices } from "../context";
import { useTopic, type LiveEvent } from "../live";
import { ErrorText } from "../ErrorText";

type Session = Schemas["Session"];
type Message = Schemas["ChatMessage"];
type ToolCall = Schemas["ToolCall"];

/** A tool call of the running turn, from a `chat.tool_call` frame (`index` counts from 1 within the turn). */
export interface LiveCall {
  index: number;
  call: ToolCall;
}

/** The tool call a `chat.tool_call` frame announces, or null for any other frame. */
export function liveCall(event: LiveEvent): LiveCall | null {
  const { index, tool_call: call } = event.data as { index?: unknown; tool_call?: Partial<ToolCall> & { result_truncated?: boolean } };
  if (event.detail_type !== "chat.tool_call" || typeof index !== "number" || !call || typeof call.name !== "string") return null;
  return { index, call: { name: call.name, input: call.input ?? {}, ok: call.ok !== false, result: call.result ?? {} } };
}

/** A tool's arguments on one line, shortened: `title: "buy milk", due: "2026-12-05"`. */
export function argumentsSummary(input: Record<string, unknown>, limit = 80): string {
  const text = Object.entries(input)
    .map(([key, value]) => `${key}: ${JSON.stringify(value) ?? "null"}`)
    .join(", ");
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

function ToolCallRow({ call, live }: { call: ToolCall; live?: boolean }) {
  const status = call.ok ? "done" : "failed";
  return (
    <details className={`tool-call ${status}`} data-live={live ? "socket" : undefined}>
      <summary>
        Tool: <strong>{call.name}</strong>
        <span className="tool-args">({argumentsSummary(call.input)})</span> <span className={`tool-status ${status}`}>{status}</span>
      </summary>
      <pre>{JSON.stringify({ input: call.input, result: call.result }, null, 2)}</pre>
    </details>
  );
}

export function ChatPage() {
  const { api } = useServices();
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [current, setCurrent] = useState<string | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [liveCalls, setLiveCalls] = useState<LiveCall[]>([]);
  /** The newest event id seen on the session's topic, and the one when the running turn began (null: none runs).
   * A turn's calls are the frames after it: those replayed from earlier turns when the topic is subscribed are not. */
  const newest = useRef(0);
  const turnAfter = useRef<number | null>(null);
  const createdBySend = useRef<string | null>(null);

  const loadSessions = useCallback(async () => {
    const { data } = await api.GET("/chat/sessions", {});
    setSessions(data?.items ?? []);
  }, [api]);
  useEffect(() => void loadSessions(), [loadSessions]);

  useEffect(() => {
    newest.current = 0;
    if (!current) return setMessages([]);
    if (current === createdBySend.current) return; // a session send() made: it fills the messages itself
    void api.GET("/chat/sessions/{session_id}/messages", { params: { path: { session_id: current } } }).then(({ data }) => setMessages(data?.items ?? []));
  }, [api, current]);

  useTopic(current ? `chat:${current}` : null, (event) => {
    newest.current = Math.max(newest.current, event.id);
    const after = turnAfter.current;
    const found = liveCall(event);
    if (after === null || event.id <= after || !found) return;
    setLiveCalls((calls) => (calls.some((c) => c.index === found.index) ? calls : [...calls, found].sort((a, b) => a.index - b.index)));
  });

  async function newSession() {
    const { data, error: failed } = await api.POST("/chat/sessions", { body: { title: "New chat" } });
    if (failed) return setError(problem(failed));
    await loadSessions();
    setCurrent(data.id);
  }

  async function send(event: FormEvent) {
    event.preventDefault();
    let session = current;
    turnAfter.current = newest.current;
    if (!session) {
      const created = await api.POST("/chat/sessions", { body: { title: text.slice(0, 60) } });
      if (created.error) return setError(problem(created.error));
      session = created.data.id;
      turnAfter.current = 0; // a new session: every frame of its topic is this turn's
      createdBySend.current = session;
      setCurrent(session);
      void loadSessions();
    }
    setBusy(true);
    setLiveCalls([]);
    const sent: Message = { id: `pending-${Date.now()}`, role: "user", text, created_at: new Date().toISOString() };
    setMessages((previous) => [...previous, sent]);
    setText("");
    const { data, error: failed } = await api.POST("/chat/sessions/{session_id}/messages", {
      params: { path: { session_id: session } },
      body: { text: sent.text },
    });
    turnAfter.current = null;
    setBusy(false);
    setLiveCalls([]);
    if (failed) return setError(problem(failed));
    setError(null);
    const history = await api.GET("/chat/sessions/{session_id}/messages", { params: { path: { session_id: session } } });
    // The stored conversation ends with this turn's reply (the response's `reply` has no stored id of its own, so
    // it is added to what is shown only when the history could not be read or goes on past its first page).
    const stored = history.data;
    const reply = { ...data.reply, tool_calls: data.reply.tool_calls ?? data.tool_calls };
    if (stored && !stored.next_cursor && stored.items.at(-1)?.role === "assistant") setMessages(stored.items);
    else setMessages((shown) => [...shown, reply]);
  }

  return (
    <div className="page chat">
      <div className="toolbar">
        <h1>Chat</h1>
        <button type="button" onClick={() => void newSession()}>
          New chat
        </button>
      </div>
      <div className="columns">
        <nav aria-label="Chat sessions" className="card">
          <ul aria-busy={sessions === null}>
            {sessions?.map((session) => (
              <li key={session.id}>
                <button type="button" className="link" aria-current={current === session.id} onClick={() => setCurrent(session.id)}>
                  {session.title}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <section className="card conversation" aria-label="Conversation">
          <ol className="messages" aria-live="polite">
            {messages.map((message) => (
              <li key={message.id} className={`message ${message.role}`}>
                <strong>{message.role === "user" ? "You" : "Assistant"}</strong>
                <p>{message.text}</p>
                {(message.tool_calls ?? []).map((call, index) => (
                  <ToolCallRow key={index} call={call} />
                ))}
              </li>
            ))}
            {busy && (
              <li className="message assistant pending" aria-busy="true" data-testid="pending-reply">
                <strong>Assistant</strong>
                <p className="placeholder">{liveCalls.length ? "Working…" : "Thinking…"}</p>
                {liveCalls.map(({ index, call }) => (
                  <ToolCallRow key={index} call={call} live />
                ))}
              </li>
            )}
          </ol>
          <form onSubmit={(e) => void send(e)} className="row">
            <label className="grow">
              Message
              <input value={text} required onChange={(e) => setText(e.target.value)} placeholder="add buy milk tomorrow" />
            </label>
            <button type="submit" className="primary" disabled={busy}>
              Send
            </button>
          </form>
          <ErrorText message={error} />
        </section>
      </div>
    </div>
  );
}
