/** The typed API client: paths and bodies come from docs/openapi.json (schema.gen.ts, made by `npm run generate`). */
import createClient, { type Middleware } from "openapi-fetch";
import type { Auth } from "../auth";
import type { components, paths } from "./schema.gen";

export type Schemas = components["schemas"];
export type Task = Schemas["Task"];
export type Note = Schemas["Note"];
export type Job = Schemas["Job"];

export function apiClient(baseUrl: string, auth: Auth) {
  const client = createClient<paths>({ baseUrl });
  const bearer: Middleware = {
    async onRequest({ request }) {
      const token = await auth.idToken();
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  };
  client.use(bearer);
  return client;
}

export type Api = ReturnType<typeof apiClient>;

/** A problem+json (or API Gateway) error as one line for a person. */
export function problem(error: unknown): string {
  if (error && typeof error === "object") {
    const body = error as { detail?: unknown; title?: unknown; message?: unknown };
    const text = body.detail ?? body.title ?? body.message;
    if (typeof text === "string") return text;
    if (Array.isArray(text)) return text.map((item) => (item as { msg?: string }).msg ?? String(item)).join("; ");
  }
  return error instanceof Error ? error.message : "Something went wrong";
}
