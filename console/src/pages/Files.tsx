import { useCallback, useEffect, useRef, useState, type ChangeEvent } from "react";
import { problem } from "../api/client";
import { useServices } from "../context";
import { cancelUpload, resumableFor, resumeUpload, savedUpload, uploadFile, UploadCancelled, type SavedUpload, type StoredFile } from "../files/multipart";

const MIB = 1 << 20;

function mebibytes(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

export function FilesPage() {
  const { api } = useServices();
  const [files, setFiles] = useState<StoredFile[] | null>(null);
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [busy, setBusy] = useState(false);
  // An unfinished multipart upload (sessionStorage), and the picked file if it is that upload's file.
  const [interrupted, setInterrupted] = useState<SavedUpload | null>(() => savedUpload());
  const [resumable, setResumable] = useState<File | null>(null);
  const [selected, setSelected] = useState<StoredFile | null>(null);
  const [thumbnail, setThumbnail] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const controller = useRef<AbortController | null>(null);

  const load = useCallback(async () => {
    const { data } = await api.GET("/files", {});
    setFiles(data?.items ?? []);
  }, [api]);
  useEffect(() => void load(), [load]);

  async function run(file: File, send: (signal: AbortSignal) => Promise<unknown>) {
    controller.current = new AbortController();
    setBusy(true);
    setError(null);
    setResumable(null);
    setProgress({ sent: 0, total: file.size });
    try {
      await send(controller.current.signal);
      setProgress({ sent: file.size, total: file.size });
    } catch (caught) {
      if (!(caught instanceof UploadCancelled)) {
        setError(`${file.name}: ${problem(caught)}`);
        if (resumableFor(file)) setResumable(file); // the parts S3 holds are kept: Resume sends the rest
      }
    } finally {
      controller.current = null;
      setBusy(false);
      setInterrupted(savedUpload());
      await load();
    }
  }

  const onProgress = (sent: number, total: number) => setProgress({ sent, total });

  function picked(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = ""; // picking the same file again (to resume it) fires a change
    if (!file) return;
    if (resumableFor(file)) {
      setError(null);
      setInterrupted(savedUpload());
      setResumable(file); // offer Resume (or Cancel) rather than starting over
      return;
    }
    const unfinished = savedUpload();
    if (unfinished) {
      // One unfinished upload at a time: a new one would forget it (its parts would wait in S3 for nobody).
      setError(`${unfinished.name} did not finish uploading: pick it again to resume it, or cancel it, before uploading ${file.name}.`);
      return;
    }
    void run(file, (signal) => uploadFile(api, file, { onProgress, signal }));
  }

  function resume() {
    const saved = interrupted;
    const file = resumable;
    if (!saved || !file) return;
    void run(file, (signal) => resumeUpload(api, saved, file, { onProgress, signal }));
  }

  async function cancel() {
    controller.current?.abort();
    setError(null);
    const saved = savedUpload();
    setResumable(null);
    setProgress(null);
    if (saved) {
      try {
        await cancelUpload(api, saved);
      } catch (caught) {
        setError(`Cancel: ${problem(caught)}`);
      }
    }
    setInterrupted(savedUpload());
    await load();
  }

  async function open(file: StoredFile) {
    setThumbnail(null);
    const { data } = await api.GET("/files/{file_id}", { params: { path: { file_id: file.id } } });
    setSelected(data ?? file);
    if (data?.has_thumbnail) {
      const { data: image } = await api.GET("/files/{file_id}/thumbnail", { params: { path: { file_id: file.id } }, parseAs: "blob" });
      if (image) setThumbnail(URL.createObjectURL(image));
    }
    void load();
  }

  async function download(file: StoredFile) {
    const { data, response } = await api.GET("/files/{file_id}/download", { params: { path: { file_id: file.id } }, parseAs: "blob" });
    if (!data) return setError(`Download: HTTP ${response.status}`);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(data);
    link.download = file.filename;
    link.click();
  }

  return (
    <div className="page files">
      <div className="toolbar">
        <h1>Files</h1>
        <label>
          Upload a file
          <input type="file" onChange={picked} disabled={busy} />
        </label>
        <label>
          Upload progress
          <progress max={progress?.total || 1} value={progress?.sent ?? 0} />
        </label>
        {progress && (
          <span aria-live="polite">
            {mebibytes(progress.sent)} of {mebibytes(progress.total)}
          </span>
        )}
        {(busy || interrupted) && (
          <button type="button" onClick={() => void cancel()}>
            Cancel upload
          </button>
        )}
      </div>
      {interrupted && !busy && (
        <p className="row" role="status">
          {resumable
            ? `${interrupted.name} (${mebibytes(interrupted.size)}) did not finish uploading: resume sends only the parts S3 does not have yet.`
            : `An upload of ${interrupted.name} (${mebibytes(interrupted.size)}) did not finish: pick the same file to resume it, or cancel it.`}
          {resumable && (
            <button type="button" onClick={resume}>
              Resume
            </button>
          )}
        </p>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="columns">
        <section className="card" aria-label="Files list">
          <ul aria-busy={files === null}>
            {files?.map((file) => (
              <li key={file.id}>
                <button type="button" className="link" onClick={() => void open(file)}>
                  {file.filename}
                </button>{" "}
                · {file.status} · {Math.ceil(file.size / 1024)} KiB
              </li>
            ))}
          </ul>
        </section>
        <section className="card" aria-label="File">
          {!selected ? (
            <p className="placeholder">Choose a file.</p>
          ) : (
            <>
              <h2>{selected.filename}</h2>
              <div className="thumb">{thumbnail ? <img src={thumbnail} alt={`Thumbnail of ${selected.filename}`} /> : <span className="placeholder">No thumbnail</span>}</div>
              <p>Status: {selected.status}</p>
              {selected.ocr && <pre className="result">{JSON.stringify(selected.ocr, null, 2)}</pre>}
              <button type="button" onClick={() => void download(selected)}>
                Download
              </button>
            </>
          )}
        </section>
      </div>
    </div>
  );
}
