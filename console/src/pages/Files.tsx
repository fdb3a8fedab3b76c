import { useCallback, useEffect, useState } from "react";
import { problem } from "../api/client";
import { useServices } from "../context";
import type { StoredFile } from "../files/multipart";
import { ResumeNotice, UploadControls } from "../files/UploadControls";
import { downloadFile, useUpload } from "../files/useUpload";
import { ErrorText } from "../ErrorText";

export function FilesPage() {
  const { api } = useServices();
  const [files, setFiles] = useState<StoredFile[] | null>(null);
  const [selected, setSelected] = useState<StoredFile | null>(null);
  const [thumbnail, setThumbnail] = useState<string | null>(null);

  const load = useCallback(async () => {
    const { data } = await api.GET("/files", {});
    setFiles(data?.items ?? []);
  }, [api]);
  useEffect(() => void load(), [load]);
  const upload = useUpload(api, { onSettled: load });
  const { error, setError } = upload;

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
    try {
      await downloadFile(api, file);
    } catch (caught) {
      setError(problem(caught));
    }
  }

  return (
    <div className="page files">
      <div className="toolbar">
        <h1>Files</h1>
        <UploadControls upload={upload} label="Upload a file" />
      </div>
      <ResumeNotice upload={upload} />
      <ErrorText message={error} />
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
