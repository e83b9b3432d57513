/**
 * The platform's lines around a call in its log, as Lambda writes them in its log stream: `START`,
 * `END` and `REPORT` (duration, billed duration, memory size, the most memory the instance has
 * used, and the init duration on a cold start). They are not stored: the execution record keeps
 * the facts (three numbers in a row that is written anyway) and every reader of logs (the
 * execution and function log routes, follow mode, the Lambda API's Tail) renders them here, so a
 * warm call that prints nothing writes no log rows. In a rendered log the stored lines move one
 * place down: START is line 0.
 */
import type { Execution, LogLine } from '../../core/execution.js';

const MB_BYTES = 1024 * 1024;
const FINAL = new Set(['succeeded', 'failed', 'timeout', 'expired']);

function startLine(requestId: string, version: string): string {
  return `START RequestId: ${requestId} Version: ${version}`;
}

function endLine(requestId: string): string {
  return `END RequestId: ${requestId}`;
}

/** Megabytes as REPORT shows them (rounded up, at least 1) from a peak in bytes. */
export function megabytes(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / MB_BYTES));
}

/**
 * `REPORT RequestId: <id>\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\t
 * Max Memory Used: 45 MB\tInit Duration: 150.22 ms`, leaving out what is not known, and Lambda's
 * `Status: timeout` or `Status: error\tError Type: Runtime.…` for a call that stopped its instance.
 */
export function reportLine(execution: Execution): string {
  // Billed from the duration as shown (to 0.01 ms), so the line never says 1.00 ms billed as 2 ms.
  const duration = Math.round((execution.callDurationMs ?? execution.durationMs ?? 0) * 100) / 100;
  let line =
    `REPORT RequestId: ${execution.id}\tDuration: ${duration.toFixed(2)} ms` +
    `\tBilled Duration: ${Math.max(1, Math.ceil(duration))} ms`;
  if (execution.memorySizeMb !== null) line += `\tMemory Size: ${execution.memorySizeMb} MB`;
  if (execution.maxMemoryUsedMb !== null) line += `\tMax Memory Used: ${execution.maxMemoryUsedMb} MB`;
  if (execution.initDurationMs !== null) line += `\tInit Duration: ${execution.initDurationMs.toFixed(2)} ms`;
  const errorType = stoppedBy(execution);
  if (errorType === 'timeout') line += '\tStatus: timeout';
  else if (errorType) line += `\tStatus: error\tError Type: ${errorType}`;
  return line;
}

/** How a call ended that stopped its instance: `timeout`, or Lambda's `Runtime.…` error type. */
function stoppedBy(execution: Execution): string | undefined {
  if (execution.status === 'timeout') return 'timeout';
  if (execution.outcome !== 'developer_error' || !execution.error) return undefined;
  const type = execution.error.type;
  if (type === 'Crash' || type === 'Segfault') return 'Runtime.ExitError';
  if (type === 'OutOfMemory') return 'Runtime.OutOfMemory';
  return type.startsWith('Runtime.') ? type : undefined;
}

/** A call has started once it ran (or is running) at least once. */
function hasStarted(execution: Execution): boolean {
  return execution.attempts > 0 && execution.status !== 'queued';
}

/** Its END and REPORT are known once it has ended for good and ran. */
function hasEnded(execution: Execution): boolean {
  return FINAL.has(execution.status) && execution.callDurationMs !== null;
}

function systemLine(execution: Execution, seq: number, time: string, message: string): LogLine {
  return {
    executionId: execution.id,
    functionName: execution.functionName,
    seq,
    time,
    stream: 'system',
    message,
  };
}

/** A stored line as a rendered log shows it: one place down, after START. */
export function renderedLine(line: LogLine): LogLine {
  return { ...line, seq: line.seq + 1 };
}

/** The START line of a rendered log. */
export function renderedStart(execution: Execution): LogLine {
  return systemLine(execution, 0, execution.startedAt, startLine(execution.id, execution.version));
}

/** The END and REPORT lines of a rendered log whose stored lines end before `nextStoredSeq`. */
export function renderedEnd(execution: Execution, nextStoredSeq: number, time: string): LogLine[] {
  return [
    systemLine(execution, nextStoredSeq + 1, time, endLine(execution.id)),
    systemLine(execution, nextStoredSeq + 2, time, reportLine(execution)),
  ];
}

/**
 * An execution's log as Lambda's log stream shows it: START, the stored lines (in order), then END
 * and REPORT once the execution has ended.
 */
export function renderExecutionLog(execution: Execution, lines: LogLine[]): LogLine[] {
  if (!hasStarted(execution)) return lines.map(renderedLine);
  const out = [renderedStart(execution), ...lines.map(renderedLine)];
  if (!hasEnded(execution)) return out;
  const last = lines.at(-1);
  const ended = new Date(Date.parse(execution.startedAt) + (execution.durationMs ?? 0)).toISOString();
  const time = last && last.time > ended ? last.time : ended;
  out.push(...renderedEnd(execution, last ? last.seq + 1 : 0, time));
  return out;
}

/**
 * A function's recent log across executions, as rendered logs: the newest `limit` lines of every
 * execution in `executions` (with their START, END and REPORT lines, also of calls that printed
 * nothing) merged by time. `lines` are stored lines of those executions.
 */
export function renderFunctionLog(executions: Execution[], lines: LogLine[], limit: number): LogLine[] {
  const linesOf = new Map<string, LogLine[]>();
  for (const line of lines) {
    let list = linesOf.get(line.executionId);
    if (!list) linesOf.set(line.executionId, (list = []));
    list.push(line);
  }
  const rendered: { line: LogLine; order: number }[] = [];
  const ordered = [...executions].sort((a, b) =>
    a.startedAt === b.startedAt ? (a.id < b.id ? -1 : 1) : a.startedAt < b.startedAt ? -1 : 1,
  );
  ordered.forEach((execution, order) => {
    for (const line of renderExecutionLog(execution, linesOf.get(execution.id) ?? []))
      rendered.push({ line, order });
  });
  rendered.sort((a, b) =>
    a.line.time !== b.line.time
      ? a.line.time < b.line.time
        ? -1
        : 1
      : a.order !== b.order
        ? a.order - b.order
        : a.line.seq - b.line.seq,
  );
  return rendered.slice(Math.max(0, rendered.length - limit)).map((r) => r.line);
}
