/**
 * The execution: one invocation of a function and its durable record, plus the log lines it printed.
 * Every execution ends in exactly one outcome class, kept apart from API errors.
 */

export type ExecutionStatus = 'running' | 'succeeded' | 'failed' | 'timeout';
export type Trigger = 'api' | 'cli' | 'http' | 'timer' | 'queue';
export const TRIGGERS: readonly Trigger[] = ['api', 'cli', 'http', 'timer', 'queue'];

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
  version: string;
  trigger: Trigger;
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
/** Appended to input or output text that was cut to the record limit. */
export const TEXT_TRUNCATED_MARKER = '…[truncated]';
