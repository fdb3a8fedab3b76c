/**
 * The notifications bell in the app's header: the unread count (`GET /notifications/unread-count`), kept current by
 * the `notifications` topic's `notification.created` frames while the realtime socket is open and by polling with
 * backoff (5 s growing to 60 s) while it is not; its panel lists the newest notifications (`GET /notifications`) and
 * marks one (`POST /notifications/{id}/read`) or all (`POST /notifications/read-all`) read.
 *
 * A frame only says that something arrived: the count is read again rather than added to, so the frames replayed
 * when the topic is subscribed (the inbox's history) never count twice. Bursts of frames are one read.
 */
import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from "react";
import { problem, type Schemas } from "./api/client";
import { useServices } from "./context";
import { useTopic } from "./live";
import { pollWithBackoff } from "./poll";
import { ErrorText } from "./ErrorText";

type Notification = Schemas["Notification"];

const LISTED = 20;
const POLL_FIRST_MS = 5000;
const POLL_LONGEST_MS = 60_000;

/** The bell's accessible name: always says how many are unread once that is known. */
export function bellLabel(unread: number | null): string {
  return unread === null ? "Notifications" : `Notifications, ${unread} unread`;
}

/** Only links that stay in http(s) or the console itself are followed from a notification. */
function safeLink(link: string | null | undefined): string | null {
  if (!link) return null;
  return /^(https?:\/\/|#\/|\/)/i.test(link) ? link : null;
}

export function NotificationsBell() {
  const { api } = useServices();
  const [unread, setUnread] = useState<number | null>(null);
  const [open, setOpen] = useState(false);
  const [items, setItems] = useState<Notification[] | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const wrapper = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);
  const isOpen = useRef(open);
  isOpen.current = open;

  const readCount = useCallback(async (): Promise<number | null> => {
    const { data } = await api.GET("/notifications/unread-count", {});
    if (data) setUnread(data.unread);
    return data?.unread ?? null;
  }, [api]);

  const loadList = useCallback(async () => {
    const { data, error } = await api.GET("/notifications", { params: { query: { limit: LISTED } } });
    if (error) return setFailure(problem(error));
    setFailure(null);
    setItems(data.items);
  }, [api]);

  // One read at a time; frames that come during one ask for one more read after it.
  const running = useRef(false);
  const again = useRef(false);
  const refresh = useCallback(async () => {
    if (running.current) {
      again.current = true;
      return;
    }
    running.current = true;
    try {
      do {
        again.current = false;
        await readCount();
        if (isOpen.current) await loadList();
      } while (again.current);
    } catch {
      // a network failure: the next frame or poll reads again
    } finally {
      running.current = false;
    }
  }, [readCount, loadList]);

  const live = useTopic("notifications", (event) => {
    if (event.detail_type === "notification.created") void refresh();
  });

  useEffect(() => {
    if (live) {
      void refresh(); // what came while the socket was down or before it opened
      return;
    }
    let previous: number | null | undefined;
    return pollWithBackoff(
      async () => {
        let count: number | null = null;
        try {
          count = await readCount();
        } catch {
          return "same"; // offline for a moment: keep polling, more slowly
        }
        const changed = count !== previous;
        previous = count;
        if (changed && isOpen.current) void loadList();
        return changed ? "changed" : "same";
      },
      POLL_FIRST_MS,
      POLL_LONGEST_MS,
    );
  }, [live, readCount, loadList, refresh]);

  // Focus goes into the panel when it opens; a click outside closes it.
  useEffect(() => {
    if (!open) return;
    panel.current?.focus();
    const outside = (event: MouseEvent) => {
      if (!wrapper.current?.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", outside);
    return () => document.removeEventListener("mousedown", outside);
  }, [open]);

  function toggle() {
    if (open) return setOpen(false);
    setOpen(true);
    void loadList();
  }

  function onKeyDown(event: KeyboardEvent) {
    if (event.key !== "Escape" || !open) return;
    event.stopPropagation();
    setOpen(false);
    button.current?.focus();
  }

  async function markRead(notification: Notification) {
    const { data, error } = await api.POST("/notifications/{notification_id}/read", {
      params: { path: { notification_id: notification.id } },
    });
    if (error) return setFailure(problem(error));
    setFailure(null);
    setItems((list) => list?.map((item) => (item.id === data.id ? data : item)) ?? null);
    panel.current?.focus(); // its button is gone: keep the keyboard in the panel
    await readCount();
  }

  async function markAll() {
    const { error } = await api.POST("/notifications/read-all", {});
    if (error) return setFailure(problem(error));
    setFailure(null);
    const now = new Date().toISOString();
    setItems((list) => list?.map((item) => (item.read_at ? item : { ...item, read_at: now })) ?? null);
    setUnread(0);
    panel.current?.focus();
    await readCount();
  }

  const shown = unread === null || unread === 0 ? "" : unread > 99 ? "99+" : String(unread);
  return (
    <div className="bell" ref={wrapper} onKeyDown={onKeyDown}>
      <button
        type="button"
        ref={button}
        className="bell-button"
        aria-label={bellLabel(unread)}
        aria-haspopup="dialog"
        aria-expanded={open}
        aria-controls={open ? "notifications-panel" : undefined}
        data-live={live ? "socket" : "polling"}
        onClick={toggle}
      >
        <svg aria-hidden="true" focusable="false" viewBox="0 0 24 24" width="20" height="20">
          <path
            fill="currentColor"
            d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"
          />
        </svg>
        {/* Always there and of a fixed width, so the header does not move when the count arrives. */}
        <span className={`bell-count${shown ? "" : " empty"}`} aria-hidden="true" data-testid="bell-count">
          {shown}
        </span>
      </button>
      {open && (
        <div id="notifications-panel" ref={panel} className="notifications-panel card" role="dialog" aria-label="Notifications" tabIndex={-1}>
          <div className="row panel-head">
            <h2>Notifications</h2>
            <button type="button" onClick={() => void markAll()} disabled={!unread}>
              Mark all read
            </button>
          </div>
          <ErrorText message={failure} />
          <ul className="notification-list" aria-busy={items === null} aria-label="Recent notifications">
            {items?.length === 0 && <li className="placeholder">Nothing yet.</li>}
            {items?.map((item) => {
              const link = safeLink(item.link);
              return (
                <li key={item.id} className={item.read_at ? "read" : "unread"} data-testid="notification">
                  <p className="notification-title">
                    {!item.read_at && <span className="dot" aria-hidden="true" />}
                    {link ? (
                      <a href={link} onClick={() => setOpen(false)}>
                        {item.title}
                      </a>
                    ) : (
                      <strong>{item.title}</strong>
                    )}
                    {!item.read_at && <span className="visually-hidden"> (unread)</span>}
                  </p>
                  {item.body && <p className="notification-body">{item.body}</p>}
                  <p className="meta">
                    <time dateTime={item.created_at}>{new Date(item.created_at).toLocaleString()}</time> · {item.category}
                  </p>
                  {!item.read_at && (
                    <button type="button" className="link" onClick={() => void markRead(item)} aria-label={`Mark read: ${item.title}`}>
                      Mark read
                    </button>
                  )}
                </li>
              );
            })}
          </ul>
        </div>
      )}
    </div>
  );
}
