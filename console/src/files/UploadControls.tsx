/** The controls of an upload (`useUpload`): the file input, the progress bar, Cancel, and the Resume notice. */
import { mebibytes, progressText, type Upload } from "./useUpload";

/** The file input, the progress bar and its text, and Cancel (while an upload runs or one is unfinished). */
export function UploadControls({ upload, label }: { upload: Upload; label: string }) {
  const { progress, busy, interrupted } = upload;
  return (
    <>
      <label>
        {label}
        <input type="file" onChange={upload.picked} disabled={busy} />
      </label>
      <label>
        Upload progress
        <progress max={progress?.total || 1} value={progress?.sent ?? 0} />
      </label>
      {progress && <span aria-live="polite">{progressText(progress.sent, progress.total)}</span>}
      {(busy || interrupted) && (
        <button type="button" onClick={() => void upload.cancel()}>
          Cancel upload
        </button>
      )}
    </>
  );
}

/** What to do about an unfinished multipart upload: pick the same file again, then Resume (or Cancel). */
export function ResumeNotice({ upload }: { upload: Upload }) {
  const { interrupted, resumable, busy } = upload;
  if (!interrupted || busy) return null;
  return (
    <p className="row" role="status">
      {resumable
        ? `${interrupted.name} (${mebibytes(interrupted.size)}) did not finish uploading: resume sends only the parts S3 does not have yet.`
        : `An upload of ${interrupted.name} (${mebibytes(interrupted.size)}) did not finish: pick the same file to resume it, or cancel it.`}
      {resumable && (
        <button type="button" onClick={upload.resume}>
          Resume
        </button>
      )}
    </p>
  );
}
