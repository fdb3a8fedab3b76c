/**
 * The console's runtime configuration: fetched at start from `config.json` next to index.html, never baked into
 * the bundle. Locally `crewhouse local` serves it from the running stack's outputs (functions/crewhouse/local/
 * console.py); in AWS the hosting stack writes the same keys at deploy time. These keys are the contract.
 */
export interface RuntimeConfig {
  /** The HTTP API's base URL, without a trailing slash (e.g. https://abc.execute-api.eu-west-1.amazonaws.com). */
  apiUrl: string;
  /** The AWS region of the user pool (e.g. eu-west-1). */
  region: string;
  /** The Cognito user pool id (e.g. eu-west-1_AbCdEf123). */
  userPoolId: string;
  /** The public app client (no secret) that allows ALLOW_USER_SRP_AUTH and ALLOW_REFRESH_TOKEN_AUTH. */
  clientId: string;
  /** Cognito's endpoint: https://cognito-idp.<region>.amazonaws.com/ in AWS; the local gateway's proxy locally. */
  cognitoEndpoint: string;
  /** The live-updates WebSocket URL, or null where there is none. */
  websocketUrl: string | null;
  /** The Step Functions console's URL to which the app appends an execution ARN, or null (locally). A job's own
   * `console_url` from the API comes first. */
  stepFunctionsConsole: string | null;
}

const REQUIRED: (keyof RuntimeConfig)[] = ["apiUrl", "region", "userPoolId", "clientId", "cognitoEndpoint"];

export async function loadConfig(): Promise<RuntimeConfig> {
  const response = await fetch(new URL("config.json", document.baseURI), { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const raw = (await response.json()) as Partial<RuntimeConfig>;
  for (const key of REQUIRED) {
    if (typeof raw[key] !== "string" || !raw[key]) throw new Error(`config.json has no ${key}`);
  }
  return {
    ...(raw as RuntimeConfig),
    apiUrl: raw.apiUrl!.replace(/\/$/, ""),
    websocketUrl: raw.websocketUrl ?? null,
    stepFunctionsConsole: raw.stepFunctionsConsole ?? null,
  };
}
