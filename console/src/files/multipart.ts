/**
 * Uploads straight to S3: a presigned POST for small files, or a multipart upload for large ones (parts PUT to
 * presigned URLs, a few at a time, each retried with backoff; the ETag S3 answers for each completes the upload).
 *
 * An interrupted multipart upload can be resumed: the upload in progress is remembered in sessionStorage (the
 * file's id, name, size and lastModified; never a URL or a token), and when the same file is picked again the
 * parts S3 already holds (`GET /files/{id}/parts`) are not sent again.
 */
import { problem, type Api, type Schemas } from "../api/client";

export type StoredFile = Schemas["File"];
type UploadedParts = Schemas["UploadedParts"];

/** What is remembered of an unfinished multipart upload: enough to recognise the file when it is picked again. */
export interface SavedUpload {
  fileId: string;
  name: string;
  size: number;
  lastModified: number;
}

export interface UploadOptions {
  /** Bytes S3 has acknowledged so far (parts done, plus what the parts in flight have sent), and the file's size. */
  onProgress?: (sent: number, total: number) => void;
  /** Aborts the parts in flight (Cancel). */
  signal?: AbortSignal;
  /** Parts in flight at once. */
  concurrency?: number;
  /** Attempts per part before the upload stops (it can then be resumed). */
  attempts?: number;
  /** The first retry's wait; each next one waits twice as long. */
  backoffMs?: number;
}

const STORAGE_KEY = "crewhouse.files.upload";
const DEFAULTS = { concurrency: 3, attempts: 4, backoffMs: 500 };

// --- the remembered upload ---------------------------------------------------------------------------------------

export function savedUpload(): SavedUpload | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null") as Partial<SavedUpload> | null;
    if (saved && typeof saved.fileId === "string" && typeof saved.name === "string" && typeof saved.size === "number" && typeof saved.lastModified === "number") {
      return saved as SavedUpload;
    }
  } catch {
    // unreadable: forget it below
  }
  sessionStorage.removeItem(STORAGE_KEY);
  return null;
}

/** The remembered upload if `file` is the file it was uploading (same name, size and modification time). */
export function resumableFor(file: File): SavedUpload | null {
  const saved = savedUpload();
  return saved && saved.name === file.name && saved.size === file.size && saved.lastModified === file.lastModified ? saved : null;
}

function remember(fileId: string, file: File): void {
  const saved: SavedUpload = { fileId, name: file.name, size: file.size, lastModified: file.lastModified };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(saved));
}

export function forgetUpload(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

// --- starting, resuming and cancelling ---------------------------------------------------------------------------

/** Reserves the file (`POST /files`) and sends its bytes: a presigned POST, or parts if the API asks for them. */
export async function uploadFile(api: Api, file: File, options: UploadOptions = {}): Promise<StoredFile> {
  const { data, error } = await api.POST("/files", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: { filename: file.name, content_type: file.type || "application/octet-stream", size: file.size },
  });
  if (error || !data) throw new Error(problem(error));
  const upload = data.upload;
  if ("url" in upload) {
    await postToS3(upload.url, upload.fields, file, (sent) => options.onProgress?.(sent, file.size), options.signal);
    return data;
  }
  remember(data.id, file);
  return sendParts(api, data.id, file, { parts: [], part_size: upload.part_size, parts_expected: upload.parts, missing: range(1, upload.parts) }, options);
}

/** Sends only the parts S3 does not hold yet of a remembered upload, then completes it. */
export async function resumeUpload(api: Api, saved: SavedUpload, file: File, options: UploadOptions = {}): Promise<StoredFile> {
  const { data, error } = await api.GET("/files/{file_id}/parts", { params: { path: { file_id: saved.fileId } } });
  if (error || !data) throw new Error(`The upload cannot be resumed: ${problem(error)}`);
  return sendParts(api, saved.fileId, file, data, options);
}

/** Abandons a remembered upload: S3 drops its parts and the reserved quota is released. */
export async function cancelUpload(api: Api, saved: SavedUpload): Promise<void> {
  const { error, response } = await api.POST("/files/{file_id}/abort", { params: { path: { file_id: saved.fileId } } });
  // Already gone (completed, aborted, expired): nothing left to cancel.
  if (error && response.status !== 404 && response.status !== 409) throw new Error(problem(error));
  forgetUpload();
}

// --- the parts ---------------------------------------------------------------------------------------------------

async function sendParts(api: Api, fileId: string, file: File, state: UploadedParts, options: UploadOptions): Promise<StoredFile> {
  const { concurrency, attempts, backoffMs } = { ...DEFAULTS, ...withoutUndefined(options) };
  const partSize = state.part_size;
  const etags = new Map<number, string>(state.parts.map((part) => [part.part_number, part.etag]));
  const inFlight = new Map<number, number>();
  let done = state.parts.reduce((sum, part) => sum + part.size, 0);
  const report = () => options.onProgress?.(Math.min(file.size, done + [...inFlight.values()].reduce((a, b) => a + b, 0)), file.size);
  report();

  const queue = [...state.missing];
  async function worker(): Promise<void> {
    for (let number = queue.shift(); number !== undefined; number = queue.shift()) {
      const part = number;
      const body = file.slice((part - 1) * partSize, Math.min(file.size, part * partSize));
      try {
        etags.set(part, await sendPart(api, fileId, part, body, attempts, backoffMs, options.signal, (sent) => (inFlight.set(part, sent), report())));
      } catch (caught) {
        queue.length = 0; // the other workers finish their parts in flight and stop: a resume sends the rest
        throw caught;
      } finally {
        inFlight.delete(part);
      }
      done += body.size;
      report();
    }
  }
  const workers = Array.from({ length: Math.min(concurrency, queue.length) }, () => worker());
  const outcomes = await Promise.allSettled(workers);
  const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
  if (failed) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  const parts = [...etags.entries()].sort(([a], [b]) => a - b).map(([part_number, etag]) => ({ part_number, etag }));
  const { data, error } = await api.POST("/files/{file_id}/complete", { params: { path: { file_id: fileId } }, body: { parts } });
  if (error || !data) throw new Error(`The parts were sent but the upload did not complete: ${problem(error)}`);
  forgetUpload();
  return data;
}

/** One part: its SHA-256, a presigned URL signed with it, and the PUT; retried with backoff. Resolves to the ETag. */
async function sendPart(api: Api, fileId: string, number: number, body: Blob, attempts: number, backoffMs: number,
                        signal: AbortSignal | undefined, onProgress: (sent: number) => void): Promise<string> {
  const checksum = await sha256Base64(body);
  let lastError: unknown = null;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    if (signal?.aborted) throw new UploadCancelled();
    try {
      const { data, error } = await api.POST("/files/{file_id}/parts", {
        params: { path: { file_id: fileId } },
        body: { part_numbers: [number], checksums_sha256: { [number]: checksum } },
      });
      const target = data?.parts[0];
      if (error || !target) throw new PermanentError(`Part ${number}: ${problem(error)}`);
      return await putToS3(target.url, target.headers, body, onProgress, signal);
    } catch (caught) {
      if (caught instanceof UploadCancelled || caught instanceof PermanentError) throw caught;
      lastError = caught;
      onProgress(0);
      if (attempt < attempts) await wait(backoffMs * 2 ** (attempt - 1), signal);
    }
  }
  throw new Error(`Part ${number} did not reach S3 after ${attempts} attempts (${problem(lastError)}); the upload can be resumed`);
}

export class UploadCancelled extends Error {
  constructor() {
    super("The upload was cancelled");
  }
}

class PermanentError extends Error {}

function putToS3(url: string, headers: Record<string, string>, body: Blob, onProgress: (sent: number) => void, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    Object.entries(headers).forEach(([name, value]) => request.setRequestHeader(name, value));
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => {
      const etag = request.getResponseHeader("ETag");
      if (request.status >= 300) reject(new Error(`S3 answered ${request.status}`));
      else if (!etag) reject(new PermanentError("S3 did not expose the part's ETag (the bucket's CORS rule must expose it)"));
      else resolve(etag.replaceAll('"', ""));
    };
    request.onerror = () => reject(new Error("the part did not reach S3"));
    request.onabort = () => reject(new UploadCancelled());
    signal?.addEventListener("abort", () => request.abort(), { once: true });
    request.send(body);
  });
}

/** POSTs the file with the presigned form, reporting progress (fetch cannot report upload progress). */
function postToS3(url: string, fields: Record<string, string>, file: File, onProgress: (sent: number) => void, signal?: AbortSignal): Promise<void> {
  const form = new FormData();
  Object.entries(fields).forEach(([name, value]) => form.append(name, value));
  form.append("file", file);
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => (request.status < 300 ? resolve() : reject(new Error(`S3 answered ${request.status}`)));
    request.onerror = () => reject(new Error("The upload did not reach S3"));
    request.onabort = () => reject(new UploadCancelled());
    signal?.addEventListener("abort", () => request.abort(), { once: true });
    request.send(form);
  });
}

async function sha256Base64(body: Blob): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await body.arrayBuffer()));
  let binary = "";
  digest.forEach((byte) => (binary += String.fromCharCode(byte)));
  return btoa(binary);
}

function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), reject(new UploadCancelled())), { once: true });
  });
}

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, index) => first + index);
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
