import { useCallback, useEffect, useState, type FormEvent } from "react";
import { problem, type Schemas } from "../api/client";
import { useServices } from "../context";

type Session = Schemas["Session"];
type Message = Schemas["ChatMessage"];

export function ChatPage() {
  const { api } = useServices();
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [current, setCurrent] = useState<string | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const loadSessions = useCallback(async () => {
    const { data } = await api.GET("/chat/sessions", {});
    setSessions(data?.items ?? []);
  }, [api]);
  useEffect(() => void loadSessions(), [loadSessions]);

  useEffect(() => {
    if (!current) return setMessages([]);
    void api.GET("/chat/sessions/{session_id}/messages", { params: { path: { session_id: current } } }).then(({ data }) => setMessages(data?.items ?? []));
  }, [api, current]);

  async function newSession() {
    const { data, error: failed } = await api.POST("/chat/sessions", { body: { title: "New chat" } });
    if (failed) return setError(problem(failed));
    await loadSessions();
    setCurrent(data.id);
  }

  async function send(event: FormEvent) {
    event.preventDefault();
    let session = current;
    if (!session) {
      const created = await api.POST("/chat/sessions", { body: { title: text.slice(0, 60) } });
      if (created.error) return setError(problem(created.error));
      session = created.data.id;
      setCurrent(session);
      void loadSessions();
    }
    setBusy(true);
    const sent: Message = { id: `pending-${Date.now()}`, role: "user", text, created_at: new Date().toISOString() };
    setMessages((previous) => [...previous, sent]);
    setText("");
    const { data, error: failed } = await api.POST("/chat/sessions/{session_id}/messages", {
      params: { path: { session_id: session } },
      body: { text: sent.text },
    });
    setBusy(false);
    if (failed) return setError(problem(failed));
    setError(null);
    const history = await api.GET("/chat/sessions/{session_id}/messages", { params: { path: { session_id: session } } });
    const reply = { ...data.reply, tool_calls: data.reply.tool_calls ?? data.tool_calls };
    setMessages(history.data?.items.some((message) => message.id === reply.id) ? history.data.items : [...(history.data?.items ?? [sent]), reply]);
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
                  <details key={index} className="tool-call">
                    <summary>Tool: {String((call as { name?: string }).name ?? "call")}</summary>
                    <pre>{JSON.stringify(call, null, 2)}</pre>
                  </details>
                ))}
              </li>
            ))}
            {busy && <li className="placeholder">Thinking…</li>}
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
          {error && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
        </section>
      </div>
    </div>
  );
}
