/**
 * The files attached to a note or a task (the note editor's and the task edit panel's "Attachments"): each one's
 * name, size and status, Download and Detach; "Attach a file" uploads a new file (with progress, like the Files
 * page) and attaches it once it is in S3; "Attach an existing file" picks one of the user's available files.
 *
 * Attaching or detaching moves the note's or task's version on (its ETag): `onChanged` lets the page read it again.
 */
import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from "react";
import { problem } from "../api/client";
import { useServices } from "../context";
import { pollWithBackoff } from "../poll";
import type { StoredFile } from "./multipart";
import { ResumeNotice, UploadControls } from "./UploadControls";
import { downloadFile, fileSize, useUpload } from "./useUpload";
import { ErrorText } from "../ErrorText";

export type AttachmentKind = "note" | "task";

interface Props {
  kind: AttachmentKind;
  targetId: string;
  onChanged?: () => void;
}

/** One instance per target: an upload still running when the panel shows another task attaches to its own. */
export function Attachments(props: Props) {
  return <TargetAttachments key={`${props.kind}:${props.targetId}`} {...props} />;
}

function TargetAttachments({ kind, targetId, onChanged }: Props) {
  const { api } = useServices();
  const [files, setFiles] = useState<StoredFile[] | null>(null);
  const [choices, setChoices] = useState<StoredFile[] | null>(null); // the picker's files, while it is open
  const [chosen, setChosen] = useState("");
  const [status, setStatus] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const heading = useId();
  const pickerButton = useRef<HTMLButtonElement>(null);
  const pickerList = useRef<HTMLSelectElement>(null);
  const pickerCancel = useRef<HTMLButtonElement>(null);
  const [opening, setOpening] = useState(false);
  const latestChanged = useRef(onChanged);
  latestChanged.current = onChanged;

  const load = useCallback(async () => {
    const { data, error } = await api.GET("/files", { params: { query: { attached_to: `${kind}:${targetId}`, limit: 200 } } });
    if (error || !data) {
      setFailure(`Attachments: ${problem(error)}`);
      setFiles((shown) => shown ?? []);
      return null;
    }
    setFiles(data.items);
    return data.items;
  }, [api, kind, targetId]);
  useEffect(() => {
    setFiles(null);
    void load();
  }, [load]);

  // A new file is pending until its checks end: look again (with backoff) until none is.
  const pending = (files ?? []).filter((file) => file.status === "pending").map((file) => file.id).join(",");
  useEffect(() => {
    if (!pending) return;
    let first = true;
    return pollWithBackoff(async () => {
      if (first) {
        first = false; // the list was just read
        return "same";
      }
      const items = await load();
      if (!items) return "done";
      const still = items.filter((file) => file.status === "pending").map((file) => file.id).join(",");
      return still ? (still === pending ? "same" : "changed") : "done";
    }, 1000, 5000);
  }, [pending, load]);

  async function attach(file: StoredFile): Promise<void> {
    const { error } = await api.POST("/files/{file_id}/attachments", {
      params: { path: { file_id: file.id } },
      body: { kind, id: targetId },
    });
    if (error) throw new Error(`Attach: ${problem(error)}`);
    setStatus(`Attached ${file.filename}`);
    latestChanged.current?.();
  }

  const upload = useUpload(api, {
    onUploaded: async (file) => {
      setStatus(null);
      await attach(file);
    },
    onSettled: async () => void (await load()),
  });
  const error = upload.error ?? failure;

  async function detach(file: StoredFile) {
    setStatus(null);
    setFailure(null);
    upload.setError(null);
    const { error: failed } = await api.DELETE("/files/{file_id}/attachments/{kind}/{target_id}", {
      params: { path: { file_id: file.id, kind, target_id: targetId } },
    });
    if (failed) return setFailure(`Detach ${file.filename}: ${problem(failed)}`);
    setStatus(`Detached ${file.filename}`);
    latestChanged.current?.();
    await load();
  }

  async function download(file: StoredFile) {
    setFailure(null);
    try {
      await downloadFile(api, file);
    } catch (caught) {
      setFailure(`${file.filename}: ${problem(caught)}`);
    }
  }

  async function openPicker() {
    if (opening) return;
    setFailure(null);
    setOpening(true);
    const { data, error: failed } = await api.GET("/files", { params: { query: { status: "available", limit: 200 } } });
    setOpening(false);
    if (failed || !data) return setFailure(`Available files: ${problem(failed)}`);
    const attached = new Set((files ?? []).map((file) => file.id));
    const available = data.items.filter((file) => !attached.has(file.id));
    setChosen(available[0]?.id ?? "");
    setChoices(available);
  }

  // The picker opens with its list focused (or Cancel, when there is nothing to pick); closed, focus goes back to
  // the button that opens it.
  const pickerOpen = choices !== null;
  const wasOpen = useRef(false);
  useEffect(() => {
    if (pickerOpen) (pickerList.current?.disabled ? pickerCancel.current : pickerList.current)?.focus();
    else if (wasOpen.current) pickerButton.current?.focus();
    wasOpen.current = pickerOpen;
  }, [pickerOpen]);

  function closePicker() {
    setChoices(null);
  }

  async function attachChosen(event: FormEvent) {
    event.preventDefault();
    const file = choices?.find((choice) => choice.id === chosen);
    if (!file) return;
    setStatus(null);
    setFailure(null);
    try {
      await attach(file);
    } catch (caught) {
      return setFailure(problem(caught));
    }
    closePicker();
    await load();
  }

  return (
    <section className="attachments" aria-labelledby={heading}>
      <h3 id={heading}>Attachments</h3>
      <ul className="attachment-list" aria-busy={files === null} aria-label="Attached files">
        {files === null && <li className="placeholder">Loading…</li>}
        {files?.length === 0 && <li className="placeholder">No attachments.</li>}
        {files?.map((file) => (
          <li key={file.id}>
            <button type="button" className="link" onClick={() => void download(file)} aria-label={`Download ${file.filename}`}>
              {file.filename}
            </button>
            <span className="meta">
              {fileSize(file.size)} · {file.status}
            </span>
            <button type="button" onClick={() => void detach(file)} aria-label={`Detach ${file.filename}`}>
              Detach
            </button>
          </li>
        ))}
      </ul>
      <div className="row attach-upload">
        <UploadControls upload={upload} label="Attach a file" />
      </div>
      <ResumeNotice upload={upload} />
      {choices === null ? (
        <button type="button" ref={pickerButton} onClick={() => void openPicker()} aria-busy={opening}>
          Attach an existing file
        </button>
      ) : (
        <form className="row picker" onSubmit={(e) => void attachChosen(e)}
          onKeyDown={(e) => e.key === "Escape" && closePicker()}>
          <label>
            Existing file
            <select value={chosen} onChange={(e) => setChosen(e.target.value)} disabled={choices.length === 0} ref={pickerList}>
              {choices.length === 0 && <option value="">No other available file</option>}
              {choices.map((file) => (
                <option key={file.id} value={file.id}>
                  {file.filename} ({fileSize(file.size)})
                </option>
              ))}
            </select>
          </label>
          <button type="submit" className="primary" disabled={!chosen}>
            Attach
          </button>
          <button type="button" onClick={closePicker} ref={pickerCancel}>
            Cancel
          </button>
        </form>
      )}
      <ErrorText message={error} />
      <p role="status" className="status-line">
        {status}
      </p>
    </section>
  );
}
