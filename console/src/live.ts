/**
 * Live updates over the realtime WebSocket (functions/crewhouse/realtime/models.py has the protocol): one shared
 * connection per signed-in app; views subscribe topics such as `job:<id>` through `useTopic`. The ID token goes in
 * `Sec-WebSocket-Protocol: bearer, <token>` (browsers cannot set headers; this keeps it out of URLs and logs), read
 * fresh from Auth at each connect, so a reconnect after a refresh uses the new token. The token is never stored.
 * When there is no WebSocket URL or the socket is down, `useTopic` reports `live === false` and callers poll.
 */
import { useEffect, useRef, useState } from "react";
import type { Auth } from "./auth";
import type { RuntimeConfig } from "./config";
import { useServices } from "./context";

/** One `{"type": "event"}` frame. */
export interface LiveEvent {
  topic: string;
  id: number;
  detail_type: string;
  at: string;
  data: Record<string, unknown>;
}

type Listener = (event: LiveEvent) => void;
type StateListener = (open: boolean) => void;

/** API Gateway closes a WebSocket idle for 10 minutes; a ping every 5 keeps it open. */
const PING_EVERY_MS = 5 * 60 * 1000;
const FIRST_RETRY_MS = 1000;
const LONGEST_RETRY_MS = 30_000;

export class LiveClient {
  private socket: WebSocket | null = null;
  private listeners = new Map<string, Set<Listener>>();
  /** The last event id seen per topic, sent as `last_event_id` when resubscribing after a reconnect. */
  private lastIds = new Map<string, number>();
  private stateListeners = new Set<StateListener>();
  private retryDelay = FIRST_RETRY_MS;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private closed = false;
  open = false;

  constructor(
    private readonly url: string,
    private readonly auth: Auth,
  ) {
    auth.onChange(() => {
      if (!auth.signedIn) this.close();
      else if (this.closed) {
        this.closed = false;
        if (this.listeners.size) void this.connect();
      }
    });
  }

  /** Calls `listener` with each event of `topic`; the returned function unsubscribes. */
  subscribe(topic: string, listener: Listener): () => void {
    let set = this.listeners.get(topic);
    if (!set) {
      set = new Set();
      this.listeners.set(topic, set);
      this.sendSubscribe(topic);
    }
    set.add(listener);
    if (!this.socket && !this.closed) void this.connect();
    return () => {
      const current = this.listeners.get(topic);
      if (!current) return;
      current.delete(listener);
      if (current.size) return;
      this.listeners.delete(topic);
      this.lastIds.delete(topic);
      this.send({ action: "unsubscribe", topic });
    };
  }

  onState(listener: StateListener): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Closes the socket and stops reconnecting (sign-out). */
  close(): void {
    this.closed = true;
    window.clearTimeout(this.retryTimer);
    this.socket?.close();
    this.socket = null;
    this.setOpen(false);
  }

  private async connect(): Promise<void> {
    const token = await this.auth.idToken();
    if (!token || this.closed || this.socket) return;
    const socket = new WebSocket(this.url, ["bearer", token]);
    this.socket = socket;
    socket.onopen = () => {
      this.setOpen(true);
      for (const topic of this.listeners.keys()) this.sendSubscribe(topic);
      this.pingTimer = window.setInterval(() => this.send({ action: "ping" }), PING_EVERY_MS);
    };
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = () => {
      window.clearInterval(this.pingTimer);
      if (this.socket === socket) this.socket = null;
      this.setOpen(false);
      if (this.closed || !this.listeners.size) return;
      // Backoff with jitter so that many consoles do not reconnect in step after an outage.
      const wait = this.retryDelay * (0.5 + Math.random() / 2);
      this.retryDelay = Math.min(this.retryDelay * 2, LONGEST_RETRY_MS);
      this.retryTimer = window.setTimeout(() => void this.connect(), wait);
    };
  }

  private receive(raw: unknown): void {
    if (typeof raw !== "string") return;
    let frame: { type?: string } & Partial<LiveEvent>;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (frame.type === "subscribed") this.retryDelay = FIRST_RETRY_MS; // the server knows this connection
    if (frame.type === "error" && (frame as { status?: unknown }).status === 401) {
      // "This connection is not registered; connect again": a new socket resubscribes every topic from its last id.
      this.socket?.close();
      return;
    }
    if (frame.type !== "event" || typeof frame.topic !== "string" || typeof frame.id !== "number") return;
    const seen = this.lastIds.get(frame.topic);
    if (seen !== undefined && frame.id <= seen) return; // a replay overlapping what was already delivered
    this.lastIds.set(frame.topic, frame.id);
    this.listeners.get(frame.topic)?.forEach((listener) => listener(frame as LiveEvent));
  }

  private sendSubscribe(topic: string): void {
    // From 0 at first: a view opened just after its job started still sees the events it missed (replay).
    this.send({ action: "subscribe", topic, last_event_id: this.lastIds.get(topic) ?? 0 });
  }

  private send(message: object): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private setOpen(open: boolean): void {
    if (this.open === open) return;
    this.open = open;
    this.stateListeners.forEach((listener) => listener(open));
  }
}

const clients = new WeakMap<Auth, LiveClient | null>();

/** The app's one live client, or null when the config has no WebSocket URL. */
export function liveClient(config: RuntimeConfig, auth: Auth): LiveClient | null {
  if (!clients.has(auth)) clients.set(auth, config.websocketUrl ? new LiveClient(config.websocketUrl, auth) : null);
  return clients.get(auth) ?? null;
}

/**
 * Subscribes `topic` (none when null) for the component's life; `onEvent` sees each event. Returns whether the socket
 * is open: when false, the caller polls instead.
 */
export function useTopic(topic: string | null, onEvent: (event: LiveEvent) => void): boolean {
  const { config, auth } = useServices();
  const client = liveClient(config, auth);
  const [live, setLive] = useState(client?.open ?? false);
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    if (!client || !topic) return;
    const stopState = client.onState(setLive);
    const stop = client.subscribe(topic, (event) => handler.current(event));
    setLive(client.open);
    return () => {
      stop();
      stopState();
    };
  }, [client, topic]);
  return live;
}
