/**
 * The execution: one invocation of a function and its durable record, plus the log lines it printed.
 * Every execution ends in exactly one outcome class, kept apart from API errors.
 */

/**
 * `running`, `succeeded`, `failed` and `timeout` are what a synchronous call goes through. An
 * asynchronous call is `queued` until it first runs, `retrying` between attempts, and ends
 * `succeeded`, `failed` (retries exhausted, whatever the last attempt's failure) or `expired` (older
 * than its function's maximum event age, so not run again).
 */
export type ExecutionStatus =
  'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'timeout' | 'expired';
export const EXECUTION_STATUSES: readonly ExecutionStatus[] = [
  'queued',
  'running',
  'retrying',
  'succeeded',
  'failed',
  'timeout',
  'expired',
];
/** `destination`: the call was made by another function's asynchronous on-success/on-failure destination. */
export type Trigger = 'api' | 'cli' | 'http' | 'timer' | 'queue' | 'destination';
/** Synchronous calls answer with the result; asynchronous ones are queued and answered with 202. */
export type InvocationType = 'sync' | 'async';

/**
 * Whose fault a failure was: `function` (the code threw or returned an error), `developer`
 * (crash, init failure, timeout, out of memory), `platform` (Nimbus failed).
 */
export type Outcome = 'succeeded' | 'function_error' | 'developer_error' | 'platform_error';

/** A failure as the caller sees it. `type` is e.g. `ValueError`, `Timeout`, `OutOfMemory`, `Crash`. */
export interface ExecutionError {
  type: string;
  message: string;
  stack?: string | undefined;
}

export interface Execution {
  id: string;
  functionName: string;
  /** The version that served the call: `$LATEST` or a number ("2"). */
  version: string;
  /** What the caller asked for when it named one: a version number or an alias (e.g. "production"). */
  qualifier?: string | undefined;
  trigger: Trigger;
  invocationType: InvocationType;
  status: ExecutionStatus;
  outcome: Outcome | null;
  startedAt: string;
  /** Wall time in milliseconds, null while running. */
  durationMs: number | null;
  coldStart: boolean;
  /** The event, as JSON text, cut to the record limit. */
  input: string | null;
  inputTruncated: boolean;
  output: string | null;
  outputTruncated: boolean;
  error: ExecutionError | null;
  instanceId: string | null;
  /** Times the function was run for this execution: 1 for sync calls, 0 while an async call is queued. */
  attempts: number;
  /**
   * What the REPORT line says about the (last) call, null until it has run: the call's own time
   * in ms (a cold start's init is not in it), how long loading the function took (first call of a
   * cold-started instance only), and the instance's peak memory in MB (null without cgroups); the
   * memory size of the version that ran.
   */
  callDurationMs: number | null;
  initDurationMs: number | null;
  maxMemoryUsedMb: number | null;
  memorySizeMb: number | null;
}

export type LogStream = 'stdout' | 'stderr' | 'system';

export interface LogLine {
  executionId: string;
  functionName: string;
  /** Position of the line within its execution, from 0. */
  seq: number;
  /** ISO 8601 time the line was printed. */
  time: string;
  stream: LogStream;
  message: string;
}

/** Text stored instead of the rest when an execution's log grows past its cap. */
export const LOG_TRUNCATED_MARKER =
  '[nimbus] log truncated: this execution printed more than the per-execution log limit';
/**
 * Longest log line kept as one line, in UTF-16 code units (Lambda/CloudWatch split output at 256 KB
 * per event): a longer line is stored as several lines, each but the last ending with
 * `LOG_LINE_CONTINUED_MARKER`, so output without newlines costs memory and CPU linear in its size.
 */
export const LOG_LINE_MAX_CHARS = 256 * 1024;
/** Ends every piece of a split long line but the last. */
export const LOG_LINE_CONTINUED_MARKER = '…[line continues]';
/** Appended to input or output text that was cut to the record limit. */
export const TEXT_TRUNCATED_MARKER = '…[truncated]';
