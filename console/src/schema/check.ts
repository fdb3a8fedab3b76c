/** JSON text with line/column errors, and JSON Schema checks by ajv (draft 2020-12, as the server) in a worker. */

export interface SchemaIssue {
  path: string;
  message: string;
}
export interface SchemaCheckRequest {
  id: number;
  schema: unknown;
  sample?: unknown;
  objectOnly: boolean;
}
export interface SchemaCheckResponse {
  id: number;
  schemaIssues: SchemaIssue[];
  sampleIssues: SchemaIssue[] | null;
}

export type Parsed = { ok: true; value: unknown } | { ok: false; message: string; line: number; column: number };

/** JSON.parse, with the line and column of a syntax error (from the position the engine reports). */
export function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const lineColumn = /line (\d+) column (\d+)/.exec(message);
    if (lineColumn) return { ok: false, message: message.replace(/\s*\(line \d+ column \d+\)/, ""), line: Number(lineColumn[1]), column: Number(lineColumn[2]) };
    const position = /position (\d+)/.exec(message);
    const offset = position ? Number(position[1]) : text.length;
    const before = text.slice(0, offset).split("\n");
    return { ok: false, message, line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
  }
}

let worker: Worker | null = null;
let nextId = 1;
const waiting = new Map<number, (answer: SchemaCheckResponse) => void>();

/** Checks `schema` against the draft 2020-12 meta-schema and, when it passes, `sample` against `schema`. */
export function checkSchema(schema: unknown, sample: unknown, objectOnly: boolean): Promise<SchemaCheckResponse> {
  if (!worker) {
    worker = new Worker(new URL("./schemaWorker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (event: MessageEvent<SchemaCheckResponse>) => {
      waiting.get(event.data.id)?.(event.data);
      waiting.delete(event.data.id);
    };
  }
  const id = nextId++;
  const request: SchemaCheckRequest = { id, schema, sample, objectOnly };
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    worker!.postMessage(request);
  });
}
