/** The link to a Step Functions execution in the AWS console: the API's own `console_url`, else the runtime
 * config's console base followed by the execution ARN (the embedded cloud has no console of its own). */
export function stepFunctionsLink(
  run: { console_url?: string | null; execution_arn?: string | null },
  consoleBase: string | null,
): string | null {
  if (run.console_url) return run.console_url;
  return consoleBase && run.execution_arn ? `${consoleBase}${run.execution_arn}` : null;
}
