/**
 * The platform's lines around each call in a function's log, as Lambda writes them: `START`,
 * `END` and `REPORT` (duration, billed duration, memory size, the most memory the instance has
 * used, and the init duration on a cold start). Pure formatting.
 */

/** What a REPORT line says about one call. */
export interface CallReport {
  requestId: string;
  /** The call's own time (ms): a cold start's init is not in it. */
  durationMs: number;
  memorySizeMb: number;
  /** The instance's peak memory so far (bytes); undefined when the sandbox cannot tell. */
  maxMemoryUsedBytes: number | undefined;
  /** Loading the function (ms), on the first call of a cold-started instance only. */
  initDurationMs: number | undefined;
  /** How a call ended that stopped its instance: Lambda adds `Status: timeout` or `Status: error`. */
  status?: { kind: 'timeout' } | { kind: 'error'; errorType: string } | undefined;
}

const MB = 1024 * 1024;

export function startLine(requestId: string, version: string): string {
  return `START RequestId: ${requestId} Version: ${version}`;
}

export function endLine(requestId: string): string {
  return `END RequestId: ${requestId}`;
}

/**
 * `REPORT RequestId: <id>\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\t
 * Max Memory Used: 45 MB\tInit Duration: 150.22 ms` (fields Lambda would not know are left out).
 */
export function reportLine(report: CallReport): string {
  let line =
    `REPORT RequestId: ${report.requestId}\tDuration: ${report.durationMs.toFixed(2)} ms` +
    `\tBilled Duration: ${Math.max(1, Math.ceil(report.durationMs))} ms` +
    `\tMemory Size: ${report.memorySizeMb} MB`;
  if (report.maxMemoryUsedBytes !== undefined)
    line += `\tMax Memory Used: ${Math.max(1, Math.ceil(report.maxMemoryUsedBytes / MB))} MB`;
  if (report.initDurationMs !== undefined) line += `\tInit Duration: ${report.initDurationMs.toFixed(2)} ms`;
  if (report.status?.kind === 'timeout') line += '\tStatus: timeout';
  else if (report.status?.kind === 'error') line += `\tStatus: error\tError Type: ${report.status.errorType}`;
  return line;
}
