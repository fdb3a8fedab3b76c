import {
  DndContext,
  KeyboardSensor,
  PointerSensor,
  closestCenter,
  useDroppable,
  useSensor,
  useSensors,
  type DragEndEvent,
} from "@dnd-kit/core";
import { SortableContext, sortableKeyboardCoordinates, useSortable, verticalListSortingStrategy } from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { problem, type Task } from "../api/client";
import { useServices } from "../context";
import { Attachments } from "../files/Attachments";
import { ErrorText } from "../ErrorText";

const LETTERS = ["A", "B", "C"] as const;
type Letter = (typeof LETTERS)[number];

function today(): string {
  const now = new Date();
  return new Date(now.getTime() - now.getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
}

const TIMEZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function TasksPage() {
  const { api } = useServices();
  const [day, setDay] = useState(today());
  const [tasks, setTasks] = useState<Task[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [text, setText] = useState("");
  const [understood, setUnderstood] = useState<Record<string, string>[]>([]);
  const [query, setQuery] = useState("");
  const [found, setFound] = useState<Task[] | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 5 } }),
    useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }),
  );

  const shownDay = useRef(day);
  shownDay.current = day;
  const load = useCallback(async () => {
    const { data, error: failed } = await api.GET("/tasks", { params: { query: { planned_date: day, limit: 200 } } });
    if (shownDay.current !== day) return; // an answer for a day no longer shown
    if (failed) return setError(problem(failed));
    setTasks(data.items.filter((task) => !task.parent_id));
  }, [api, day]);

  useEffect(() => {
    setTasks(null);
    void load();
  }, [load]);

  async function quickAdd(event: FormEvent) {
    event.preventDefault();
    const { data, error: failed } = await api.POST("/tasks/quick-add", { body: { text, timezone: TIMEZONE } });
    if (failed) return setError(problem(failed));
    setText("");
    setUnderstood(data.understood);
    setError(null);
    await load();
  }

  async function search(event: FormEvent) {
    event.preventDefault();
    if (!query.trim()) return setFound(null);
    const { data, error: failed } = await api.GET("/tasks/search", { params: { query: { q: query } } });
    if (failed) return setError(problem(failed));
    setFound(data.items);
  }

  async function toggle(task: Task) {
    const done = task.status === "done";
    const path = done ? "/tasks/{task_id}/reopen" : "/tasks/{task_id}/complete";
    const { error: failed } = await api.POST(path, { params: { path: { task_id: task.id } } });
    if (failed) return setError(problem(failed));
    await load();
  }

  async function dragEnd(event: DragEndEvent) {
    const { active, over } = event;
    if (!tasks || !over || active.id === over.id) return;
    const moving = tasks.find((task) => task.id === active.id);
    if (!moving) return;
    const overTask = tasks.find((task) => task.id === over.id);
    const letter = (overTask ? overTask.priority : String(over.id)) as Letter;
    const group = tasks.filter((task) => task.priority === letter);
    let body: { priority: Letter; planned_date: string; before_id?: string; after_id?: string } = {
      priority: letter,
      planned_date: day,
    };
    if (overTask) {
      const from = group.findIndex((task) => task.id === moving.id);
      const to = group.findIndex((task) => task.id === overTask.id);
      body = from >= 0 && from < to ? { ...body, after_id: overTask.id } : { ...body, before_id: overTask.id };
    } else if (moving.priority === letter) {
      return; // dropped on its own group's empty space: nothing moves
    }
    // Show the move at once; the one move request decides, and the reload shows the server's labels.
    setTasks(tasks.map((task) => (task.id === moving.id ? { ...task, priority: letter, label: null } : task)));
    const { error: failed } = await api.POST("/tasks/{task_id}/move", {
      params: { path: { task_id: moving.id } },
      body,
    });
    if (failed) setError(problem(failed));
    await load();
  }

  return (
    <div className="page tasks">
      <div className="toolbar">
        <h1>Tasks</h1>
        <label>
          Day
          <input type="date" value={day} onChange={(e) => setDay(e.target.value || today())} />
        </label>
        <form role="search" onSubmit={(e) => void search(e)}>
          <label>
            Search tasks
            <input type="search" value={query} onChange={(e) => setQuery(e.target.value)} />
          </label>
        </form>
      </div>
      <form className="quick-add" onSubmit={(e) => void quickAdd(e)}>
        <label>
          Quick add
          <input
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="A1 call the bank fri 9am every month #finance"
            required
            maxLength={1000}
          />
        </label>
        <button type="submit" className="primary">
          Add
        </button>
      </form>
      <ul className="chips" aria-label="Understood" aria-live="polite">
        {understood.flatMap((part) =>
          Object.entries(part).map(([key, value]) => (
            <li key={`${key}:${value}`} className="chip">
              {key}: {value}
            </li>
          )),
        )}
      </ul>
      <ErrorText message={error} />
      {found && (
        <section aria-label="Search results" className="card">
          <h2>Found {found.length}</h2>
          <ul>
            {found.map((task) => (
              <li key={task.id}>
                {task.priority} · {task.title} {task.planned_date ? `(${task.planned_date})` : ""}
              </li>
            ))}
          </ul>
        </section>
      )}
      <div className="columns">
        <DndContext sensors={sensors} collisionDetection={closestCenter} onDragEnd={(e) => void dragEnd(e)}>
          <div className="groups" aria-busy={tasks === null}>
            {LETTERS.map((letter) => (
              <Group
                key={letter}
                letter={letter}
                tasks={tasks?.filter((task) => task.priority === letter) ?? null}
                onToggle={(task) => void toggle(task)}
                onEdit={setEditing}
              />
            ))}
          </div>
        </DndContext>
        {editing && <EditPanel taskId={editing} day={day} onClose={() => setEditing(null)} onSaved={() => void load()} />}
      </div>
    </div>
  );
}

function Group({
  letter,
  tasks,
  onToggle,
  onEdit,
}: {
  letter: Letter;
  tasks: Task[] | null;
  onToggle: (task: Task) => void;
  onEdit: (id: string) => void;
}) {
  const { setNodeRef, isOver } = useDroppable({ id: letter });
  return (
    <section className={`group${isOver ? " over" : ""}`} aria-labelledby={`group-${letter}`} data-letter={letter}>
      <h2 id={`group-${letter}`}>{letter}</h2>
      <SortableContext items={tasks?.map((task) => task.id) ?? []} strategy={verticalListSortingStrategy}>
        <ol ref={setNodeRef} className="task-list" data-testid={`group-${letter}`}>
          {tasks === null && <li className="placeholder">Loading…</li>}
          {tasks?.length === 0 && <li className="placeholder">Nothing here: drag a task in.</li>}
          {tasks?.map((task, index) => (
            <TaskRow key={task.id} task={task} label={task.label ?? `${letter}${index + 1}`} onToggle={onToggle} onEdit={onEdit} />
          ))}
        </ol>
      </SortableContext>
    </section>
  );
}

function TaskRow({
  task,
  label,
  onToggle,
  onEdit,
}: {
  task: Task;
  label: string;
  onToggle: (task: Task) => void;
  onEdit: (id: string) => void;
}) {
  const { attributes, listeners, setNodeRef, transform, transition, isDragging } = useSortable({ id: task.id });
  const done = task.status === "done";
  return (
    <li
      ref={setNodeRef}
      style={{ transform: CSS.Transform.toString(transform), transition }}
      className={`task${done ? " done" : ""}${isDragging ? " dragging" : ""}`}
      data-task-id={task.id}
    >
      <button type="button" className="handle" aria-label={`Move ${task.title}`} {...attributes} {...listeners}>
        ⠿
      </button>
      <span className="label">{label}</span>
      <input type="checkbox" checked={done} onChange={() => onToggle(task)} aria-label={`${done ? "Reopen" : "Complete"} ${task.title}`} />
      <button type="button" className="title link" onClick={() => onEdit(task.id)}>
        {task.title}
      </button>
      {task.recurrence && <span className="badge" title={task.recurrence}>↻</span>}
      {task.depends_on && task.depends_on.length > 0 && <span className="badge">blocked by {task.depends_on.length}</span>}
    </li>
  );
}

function EditPanel({ taskId, day, onClose, onSaved }: { taskId: string; day: string; onClose: () => void; onSaved: () => void }) {
  const { api } = useServices();
  const [task, setTask] = useState<Task | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [subtasks, setSubtasks] = useState<Task[]>([]);
  const [subtask, setSubtask] = useState("");
  const [blocker, setBlocker] = useState("");
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    const { data, response } = await api.GET("/tasks/{task_id}", { params: { path: { task_id: taskId } } });
    if (!data) return setError(`HTTP ${response.status}`);
    setTask(data);
    setEtag(response.headers.get("etag"));
    const children = await api.GET("/tasks", { params: { query: { parent_id: taskId } } });
    setSubtasks(children.data?.items ?? []);
  }, [api, taskId]);
  useEffect(() => void load(), [load]);

  // Attaching or detaching a file moves the task's version on: keep its ETag current (and the fields being edited).
  const refreshEtag = useCallback(async () => {
    const { data, response } = await api.GET("/tasks/{task_id}", { params: { path: { task_id: taskId } } });
    if (data) setEtag(response.headers.get("etag"));
  }, [api, taskId]);

  async function save(event: FormEvent) {
    event.preventDefault();
    if (!task) return;
    const { error: failed } = await api.PATCH("/tasks/{task_id}", {
      params: { path: { task_id: task.id }, header: { "If-Match": etag ?? undefined } },
      body: {
        title: task.title,
        description: task.description ?? "",
        recurrence: task.recurrence || null,
        reminders: task.reminders ?? [],
      },
    });
    if (failed) return setError(problem(failed));
    onSaved();
    await load();
  }

  async function addSubtask(event: FormEvent) {
    event.preventDefault();
    const { error: failed } = await api.POST("/tasks", { body: { title: subtask, parent_id: taskId, planned_date: day } });
    if (failed) return setError(problem(failed));
    setSubtask("");
    await load();
  }

  async function addBlocker(event: FormEvent) {
    event.preventDefault();
    const { error: failed } = await api.POST("/tasks/{task_id}/dependencies", {
      params: { path: { task_id: taskId } },
      body: { depends_on: blocker },
    });
    if (failed) return setError(problem(failed));
    setBlocker("");
    await load();
    onSaved();
  }

  return (
    <aside className="card panel" aria-labelledby="edit-title">
      <h2 id="edit-title">Edit task</h2>
      {!task && <p className="placeholder">Loading…</p>}
      {task && (
        <>
          <form onSubmit={(e) => void save(e)}>
            <label>
              Title
              <input value={task.title} required onChange={(e) => setTask({ ...task, title: e.target.value })} />
            </label>
            <label>
              Description
              <textarea value={task.description ?? ""} onChange={(e) => setTask({ ...task, description: e.target.value })} />
            </label>
            <label>
              Recurrence (RRULE)
              <input value={task.recurrence ?? ""} placeholder="FREQ=WEEKLY;BYDAY=MO" onChange={(e) => setTask({ ...task, recurrence: e.target.value })} />
            </label>
            <RemindersEditor reminders={task.reminders ?? []} onChange={(reminders) => setTask({ ...task, reminders })} />
            <button type="submit" className="primary">
              Save
            </button>
          </form>
          <h3>Subtasks</h3>
          <ul>
            {subtasks.map((child) => (
              <li key={child.id}>{child.title}</li>
            ))}
          </ul>
          <form onSubmit={(e) => void addSubtask(e)}>
            <label>
              New subtask
              <input value={subtask} required onChange={(e) => setSubtask(e.target.value)} />
            </label>
            <button type="submit">Add subtask</button>
          </form>
          <h3>Blocked by</h3>
          <ul>
            {(task.depends_on ?? []).map((id) => (
              <li key={id}>{id}</li>
            ))}
          </ul>
          <form onSubmit={(e) => void addBlocker(e)}>
            <label>
              Task id that blocks this one
              <input value={blocker} required onChange={(e) => setBlocker(e.target.value)} />
            </label>
            <button type="submit">Add dependency</button>
          </form>
          <Attachments kind="task" targetId={task.id} onChanged={() => void refreshEtag()} />
        </>
      )}
      <ErrorText message={error} />
      <button type="button" onClick={onClose}>
        Close
      </button>
    </aside>
  );
}

type Reminder = { at?: string | null; minutes_before_due?: number | null };

function describeReminder(reminder: Reminder): string {
  if (reminder.minutes_before_due != null) return `${reminder.minutes_before_due} min before due`;
  return reminder.at ? `at ${new Date(reminder.at).toLocaleString()}` : "(empty)";
}

/** The task's reminders, edited in place and saved with the task's PATCH (the server checks them). */
function RemindersEditor({ reminders, onChange }: { reminders: Reminder[]; onChange: (reminders: Reminder[]) => void }) {
  const [kind, setKind] = useState<"before" | "at">("before");
  const [minutes, setMinutes] = useState("30");
  const [at, setAt] = useState("");

  function add() {
    // datetime-local has no zone: the browser's local time, sent as UTC.
    const reminder: Reminder =
      kind === "before" ? { minutes_before_due: Number(minutes) } : { at: at ? new Date(at).toISOString() : "" };
    onChange([...reminders, reminder]);
  }

  return (
    <fieldset className="reminders">
      <legend>Reminders</legend>
      {reminders.length === 0 && <p className="placeholder">No reminders.</p>}
      <ul>
        {reminders.map((reminder, index) => (
          <li key={index}>
            {describeReminder(reminder)}{" "}
            <button type="button" aria-label={`Remove reminder ${describeReminder(reminder)}`}
              onClick={() => onChange(reminders.filter((_, other) => other !== index))}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <label>
        Remind
        <select value={kind} onChange={(e) => setKind(e.target.value as "before" | "at")}>
          <option value="before">minutes before due</option>
          <option value="at">at a time</option>
        </select>
      </label>
      {kind === "before" ? (
        <label>
          Minutes before due
          <input type="number" min={0} value={minutes} onChange={(e) => setMinutes(e.target.value)} />
        </label>
      ) : (
        <label>
          Reminder time
          <input type="datetime-local" value={at} onChange={(e) => setAt(e.target.value)} />
        </label>
      )}
      <button type="button" onClick={add}>
        Add reminder
      </button>
    </fieldset>
  );
}
