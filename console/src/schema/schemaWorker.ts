/// <reference lib="webworker" />
// Ajv compiles schemas into functions (new Function), which the console's CSP forbids on its pages; this worker is
// served with its own CSP that allows it, and it sees only the schema and sample it is sent (no DOM, no token).
import Ajv2020 from "ajv/dist/2020";
import type { SchemaCheckRequest, SchemaCheckResponse, SchemaIssue } from "./check";

const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });

function issues(errors: { instancePath: string; message?: string; params?: unknown }[] | null | undefined): SchemaIssue[] {
  return (errors ?? []).map((error) => ({ path: error.instancePath || "/", message: error.message ?? "invalid" }));
}

self.onmessage = (event: MessageEvent<SchemaCheckRequest>) => {
  const { id, schema, sample, objectOnly } = event.data;
  const answer: SchemaCheckResponse = { id, schemaIssues: [], sampleIssues: null };
  try {
    if (!ajv.validateSchema(schema as object)) answer.schemaIssues = issues(ajv.errors);
  } catch (error) {
    answer.schemaIssues = [{ path: "/$schema", message: error instanceof Error ? error.message : String(error) }];
  }
  if (objectOnly && (schema as { type?: unknown }).type !== "object")
    answer.schemaIssues.push({ path: "/type", message: 'an input schema describes an object: "type": "object"' });
  if (answer.schemaIssues.length === 0 && sample !== undefined) {
    try {
      const validate = ajv.compile(schema as object);
      answer.sampleIssues = validate(sample) ? [] : issues(validate.errors);
    } catch (error) {
      answer.schemaIssues.push({ path: "/", message: error instanceof Error ? error.message : String(error) });
    }
  }
  (self as unknown as DedicatedWorkerGlobalScope).postMessage(answer);
};
