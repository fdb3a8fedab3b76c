/**
 * What the pages that upload files share (the Files page, and the attachments of a note or a task): the upload in
 * progress (its progress and Cancel), the unfinished multipart upload that can be resumed, and its error. The
 * bytes themselves go by `multipart.ts` (a presigned POST for small files, parts for large ones).
 */
import { useCallback, useEffect, useRef, useState, type ChangeEvent } from "react";
import { problem, type Api } from "../api/client";
import { cancelUpload, resumableFor, resumeUpload, savedUpload, uploadFile, UploadCancelled, type SavedUpload, type StoredFile } from "./multipart";

const KIB = 1024;
const MIB = 1 << 20;

export function mebibytes(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/** A file's size for a person: KiB below a mebibyte, else MiB. */
export function fileSize(bytes: number): string {
  return bytes < MIB ? `${Math.ceil(bytes / KIB)} KiB` : mebibytes(bytes);
}

/** An upload's progress for a person, both numbers in the file's unit: "12 KiB of 40 KiB", "1.5 MiB of 9.0 MiB". */
export function progressText(sent: number, total: number): string {
  if (total >= MIB) return `${mebibytes(sent)} of ${mebibytes(total)}`;
  return `${Math.ceil(sent / KIB)} KiB of ${Math.ceil(total / KIB)} KiB`;
}

export interface UploadHandlers {
  /** The file is in S3 (a fresh upload or a resumed one); an error it throws is shown like an upload's. */
  onUploaded?: (file: StoredFile) => Promise<void> | void;
  /** After every upload, resume or cancel, whatever its outcome (e.g. to list the files again). */
  onSettled?: () => Promise<void> | void;
}

export interface Upload {
  progress: { sent: number; total: number } | null;
  busy: boolean;
  /** An unfinished multipart upload (sessionStorage). */
  interrupted: SavedUpload | null;
  /** The picked file, if it is the unfinished upload's file (Resume sends the rest). */
  resumable: File | null;
  error: string | null;
  setError: (error: string | null) => void;
  /** The file input's change handler. */
  picked: (event: ChangeEvent<HTMLInputElement>) => void;
  resume: () => void;
  cancel: () => Promise<void>;
}

export function useUpload(api: Api, handlers: UploadHandlers = {}): Upload {
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [busy, setBusy] = useState(false);
  const [interrupted, setInterrupted] = useState<SavedUpload | null>(() => savedUpload());
  const [resumable, setResumable] = useState<File | null>(null);
  const [error, setError] = useState<string | null>(null);
  const controller = useRef<AbortController | null>(null);
  const latest = useRef(handlers);
  latest.current = handlers;
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const onProgress = useCallback((sent: number, total: number) => setProgress({ sent, total }), []);

  async function run(file: File, send: (signal: AbortSignal) => Promise<StoredFile>) {
    controller.current = new AbortController();
    setBusy(true);
    setError(null);
    setResumable(null);
    setProgress({ sent: 0, total: file.size });
    try {
      const stored = await send(controller.current.signal);
      setProgress({ sent: file.size, total: file.size });
      await latest.current.onUploaded?.(stored);
    } catch (caught) {
      if (!(caught instanceof UploadCancelled)) {
        setError(`${file.name}: ${problem(caught)}`);
        if (resumableFor(file)) setResumable(file); // the parts S3 holds are kept: Resume sends the rest
      }
    } finally {
      controller.current = null;
      if (mounted.current) {
        setBusy(false);
        setInterrupted(savedUpload());
      }
      await latest.current.onSettled?.();
    }
  }

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
    await latest.current.onSettled?.();
  }

  return { progress, busy, interrupted, resumable, error, setError, picked, resume, cancel };
}

/** Downloads one of the user's files (the API redirects to a presigned S3 URL) as the browser's download. */
export async function downloadFile(api: Api, file: StoredFile): Promise<void> {
  const { data, response } = await api.GET("/files/{file_id}/download", { params: { path: { file_id: file.id } }, parseAs: "blob" });
  if (!data) throw new Error(`Download: HTTP ${response.status}`);
  const link = document.createElement("a");
  const url = URL.createObjectURL(data);
  link.href = url;
  link.download = file.filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
