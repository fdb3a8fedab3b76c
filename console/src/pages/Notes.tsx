import { useCallback, useEffect, useState, type FormEvent } from "react";
import { problem, type Note, type Schemas } from "../api/client";
import { useServices } from "../context";
import { Attachments } from "../files/Attachments";
import { ErrorText } from "../ErrorText";

type Summary = Schemas["NoteSummary"];
type Notebook = Schemas["Notebook"];
type Revision = Schemas["RevisionSummary"];

export function NotesPage() {
  const { api } = useServices();
  const [notebooks, setNotebooks] = useState<Notebook[]>([]);
  const [notebook, setNotebook] = useState<string | null>(null);
  const [notes, setNotes] = useState<Summary[] | null>(null);
  const [view, setView] = useState<"notes" | "trash">("notes");
  const [query, setQuery] = useState("");
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    const books = await api.GET("/notebooks", {});
    setNotebooks(books.data?.items ?? []);
    const { data, error: failed } =
      view === "trash"
        ? await api.GET("/notes/trash", {})
        : await api.GET("/notes", { params: { query: notebook ? { notebook_id: notebook } : {} } });
    if (failed) return setError(problem(failed));
    setNotes(data.items);
  }, [api, notebook, view]);
  useEffect(() => void load(), [load]);

  async function search(event: FormEvent) {
    event.preventDefault();
    if (!query.trim()) return void load();
    const { data, error: failed } = await api.GET("/notes/search", { params: { query: { q: query } } });
    if (failed) return setError(problem(failed));
    setNotes(data.items as Summary[]);
  }

  async function create() {
    const { data, error: failed } = await api.POST("/notes", {
      body: { title: "Untitled note", body: "", notebook_id: notebook },
    });
    if (failed) return setError(problem(failed));
    await load();
    setSelected(data.id);
  }

  async function untrash(id: string) {
    const { error: failed } = await api.POST("/notes/{note_id}/restore", { params: { path: { note_id: id } } });
    if (failed) return setError(problem(failed));
    await load();
  }

  const roots = notebooks.filter((book) => !book.parent_id);
  return (
    <div className="page notes">
      <div className="toolbar">
        <h1>Notes</h1>
        <form role="search" onSubmit={(e) => void search(e)}>
          <label>
            Search notes
            <input type="search" value={query} onChange={(e) => setQuery(e.target.value)} />
          </label>
        </form>
        <button type="button" className="primary" onClick={() => void create()}>
          New note
        </button>
      </div>
      <ErrorText message={error} />
      <div className="three">
        <nav aria-label="Notebooks" className="card">
          <h2>Notebooks</h2>
          <ul className="tree">
            <li>
              <button type="button" className="link" aria-current={!notebook && view === "notes"} onClick={() => (setView("notes"), setNotebook(null))}>
                All notes
              </button>
            </li>
            {roots.map((book) => (
              <NotebookNode key={book.id} book={book} all={notebooks} current={notebook} onPick={(id) => (setView("notes"), setNotebook(id))} />
            ))}
            <li>
              <button type="button" className="link" aria-current={view === "trash"} onClick={() => setView("trash")}>
                Trash
              </button>
            </li>
          </ul>
        </nav>
        <section aria-label="Notes list" className="card list" aria-busy={notes === null}>
          <ul>
            {notes === null && <li className="placeholder">Loading…</li>}
            {notes?.map((note) => (
              <li key={note.id}>
                <button type="button" className="link" aria-current={selected === note.id} onClick={() => setSelected(note.id)}>
                  {note.title}
                </button>
                {view === "trash" && (
                  <button type="button" onClick={() => void untrash(note.id)}>
                    Restore
                  </button>
                )}
              </li>
            ))}
          </ul>
        </section>
        {selected && view === "notes" ? (
          <NoteEditor key={selected} noteId={selected} onChanged={() => void load()} />
        ) : (
          <section className="card editor placeholder">Choose a note.</section>
        )}
      </div>
    </div>
  );
}

function NotebookNode({ book, all, current, onPick }: { book: Notebook; all: Notebook[]; current: string | null; onPick: (id: string) => void }) {
  const children = all.filter((child) => child.parent_id === book.id);
  return (
    <li>
      <button type="button" className="link" aria-current={current === book.id} onClick={() => onPick(book.id)}>
        {book.name}
      </button>
      {children.length > 0 && (
        <ul>
          {children.map((child) => (
            <NotebookNode key={child.id} book={child} all={all} current={current} onPick={onPick} />
          ))}
        </ul>
      )}
    </li>
  );
}

function NoteEditor({ noteId, onChanged }: { noteId: string; onChanged: () => void }) {
  const { api } = useServices();
  const [note, setNote] = useState<Note | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [revisions, setRevisions] = useState<Revision[]>([]);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    const { data, response } = await api.GET("/notes/{note_id}", { params: { path: { note_id: noteId } } });
    if (!data || typeof data === "string") return setError(`HTTP ${response.status}`);
    setNote(data);
    setEtag(response.headers.get("etag"));
    const history = await api.GET("/notes/{note_id}/revisions", { params: { path: { note_id: noteId } } });
    setRevisions(history.data?.items ?? []);
  }, [api, noteId]);
  useEffect(() => void load(), [load]);

  // Attaching or detaching a file moves the note's version on: keep its ETag current (and the text being edited).
  const refreshEtag = useCallback(async () => {
    const { data, response } = await api.GET("/notes/{note_id}", { params: { path: { note_id: noteId } } });
    if (data && typeof data !== "string") setEtag(response.headers.get("etag"));
  }, [api, noteId]);

  async function save(event: FormEvent) {
    event.preventDefault();
    if (!note) return;
    setStatus(null);
    const { error: failed } = await api.PATCH("/notes/{note_id}", {
      params: { path: { note_id: note.id }, header: { "If-Match": etag ?? undefined } },
      body: { title: note.title, body: note.body ?? "" },
    });
    if (failed) return setError(problem(failed));
    setError(null);
    setPreview(null);
    onChanged();
    await load();
    setStatus("Saved"); // only once the editor shows the saved note: typing before then would be overwritten
  }

  async function showPreview() {
    // The server renders and sanitizes the markdown; the page shows that HTML as it is.
    const { data } = await api.GET("/notes/{note_id}", {
      params: { path: { note_id: noteId }, query: { format: "html" } },
      parseAs: "text",
    });
    setPreview(data ?? "");
  }

  async function restore(revision: number) {
    const { error: failed } = await api.POST("/notes/{note_id}/revisions/{revision}/restore", {
      params: { path: { note_id: noteId, revision } },
    });
    if (failed) return setError(problem(failed));
    onChanged();
    await load();
    setStatus(`Restored revision ${revision}`);
  }

  async function trash() {
    const { error: failed } = await api.DELETE("/notes/{note_id}", {
      params: { path: { note_id: noteId }, header: { "If-Match": etag ?? undefined } },
    });
    if (failed) return setError(problem(failed));
    onChanged();
  }

  if (!note) return <section className="card editor placeholder">Loading…</section>;
  return (
    <section className="card editor" aria-label="Note editor">
      <form onSubmit={(e) => void save(e)}>
        <label>
          Title
          <input value={note.title} required onChange={(e) => setNote({ ...note, title: e.target.value })} />
        </label>
        <label>
          Markdown
          <textarea rows={10} value={note.body ?? ""} onChange={(e) => setNote({ ...note, body: e.target.value })} />
        </label>
        <div className="row">
          <button type="submit" className="primary">
            Save
          </button>
          <button type="button" onClick={() => void showPreview()}>
            Preview
          </button>
          <button type="button" onClick={() => void trash()}>
            Move to trash
          </button>
          <span role="status">{status}</span>
        </div>
      </form>
      <ErrorText message={error} />
      {note.checklist && note.checklist.length > 0 && (
        <>
          <h3>Checklist</h3>
          <ul className="checklist">
            {note.checklist.map((item) => (
              <li key={item.id}>
                <label>
                  <input type="checkbox" checked={item.checked} readOnly /> {item.text}
                </label>
              </li>
            ))}
          </ul>
        </>
      )}
      {preview !== null && <article className="preview" aria-label="Preview" dangerouslySetInnerHTML={{ __html: preview }} />}
      <Attachments kind="note" targetId={note.id} onChanged={() => void refreshEtag()} />
      <h3>Revisions</h3>
      <ol className="revisions">
        {revisions.map((revision) => (
          <li key={revision.revision}>
            r{revision.revision} · {revision.title} · {new Date(revision.created_at).toLocaleString()}
            {revision.revision !== note.revision && (
              <button type="button" onClick={() => void restore(revision.revision)} aria-label={`Restore revision ${revision.revision}`}>
                Restore
              </button>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
