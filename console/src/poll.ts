/** Polling with backoff, for views that watch something run until it ends (jobs, flow executions). */

/** What one poll found: something new (poll again soon), nothing new (wait longer), or the run ended (stop). */
export type PollResult = "changed" | "same" | "done";

/**
 * Runs `step` now, then again after 1 s; each poll that finds nothing new waits 1.5 × longer (up to 5 s), one that
 * finds something goes back to 1 s. Stops when `step` answers "done" or throws, or when the returned function is
 * called (an effect's cleanup).
 */
export function pollWithBackoff(step: () => Promise<PollResult>, first = 1000, longest = 5000): () => void {
  let delay = first;
  let stopped = false;
  let timer: number | undefined;
  async function run() {
    let result: PollResult;
    try {
      result = await step();
    } catch {
      return;
    }
    if (stopped || result === "done") return;
    delay = result === "changed" ? first : Math.min(delay * 1.5, longest);
    timer = window.setTimeout(() => void run(), delay);
  }
  void run();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
