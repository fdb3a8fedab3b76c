import { useCallback, useEffect, useState, type ChangeEvent } from "react";
import { problem, type Schemas } from "../api/client";
import { useServices } from "../context";

type StoredFile = Schemas["File"];

/** POSTs the file straight to S3 with the presigned form, reporting progress (fetch cannot report upload progress). */
function postToS3(url: string, fields: Record<string, string>, file: File, onProgress: (percent: number) => void): Promise<void> {
  const form = new FormData();
  Object.entries(fields).forEach(([name, value]) => form.append(name, value));
  form.append("file", file);
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(Math.round((event.loaded / event.total) * 100));
    request.onload = () => (request.status < 300 ? resolve() : reject(new Error(`S3 answered ${request.status}`)));
    request.onerror = () => reject(new Error("The upload did not reach S3"));
    request.send(form);
  });
}

export function FilesPage() {
  const { api } = useServices();
  const [files, setFiles] = useState<StoredFile[] | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [selected, setSelected] = useState<StoredFile | null>(null);
  const [thumbnail, setThumbnail] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    const { data } = await api.GET("/files", {});
    setFiles(data?.items ?? []);
  }, [api]);
  useEffect(() => void load(), [load]);

  async function upload(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    if (!file) return;
    setError(null);
    setProgress(0);
    const { data, error: failed } = await api.POST("/files", {
      params: { header: { "Idempotency-Key": crypto.randomUUID() } },
      body: { filename: file.name, content_type: file.type || "application/octet-stream", size: file.size },
    });
    if (failed) return (setProgress(null), setError(problem(failed)));
    const target = data.upload as { url?: string; fields?: Record<string, string> } | undefined;
    try {
      if (!target?.url || !target.fields) throw new Error("Large files upload in parts, which the console does not do yet");
      await postToS3(target.url, target.fields, file, setProgress);
    } catch (caught) {
      setError(problem(caught));
    }
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
          <input type="file" onChange={(e) => void upload(e)} />
        </label>
        <label>
          Upload progress
          <progress max={100} value={progress ?? 0} />
        </label>
      </div>
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
