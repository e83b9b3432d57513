/**
 * How a call that did not succeed ended: one closed union, so every place that turns a failure into
 * a record, a log line or an HTTP answer must handle each member (a `never` check makes the
 * compiler find the ones that forget). The engine decides the kind once, where it sees the failure;
 * the front doors map kinds to their answers (src/api/outcome-http.ts, src/api/lambda/outcome-lambda.ts).
 */
import type { ExecutionError, ExecutionStatus, Outcome } from './execution.js';

/**
 * - `function_error`: the handler threw, rejected or returned an error (the instance stays).
 * - `response_too_large`: the handler's result is over the synchronous response limit.
 * - `crashed`: the function's process died during the call (exit, signal, stopped with its instance).
 * - `out_of_memory`: the function used more memory than its size.
 * - `timed_out`: the call outlived its timeout and its instance was stopped.
 * - `init_failed`: the function's code failed to load (throw or exit at import, init timeout).
 * - `superseded`: the function was redeployed while the call waited for an instance; the Invoker
 *   retries such a call on the new code, so a caller only sees it when that kept happening.
 * - `throttled`: no instance freed up within the queue timeout (no execution is recorded).
 * - `platform_error`: Nimbus failed (code not preparable, sandbox not startable).
 */
export type FailureKind =
  | 'function_error'
  | 'response_too_large'
  | 'crashed'
  | 'out_of_memory'
  | 'timed_out'
  | 'init_failed'
  | 'superseded'
  | 'throttled'
  | 'platform_error';

export const FAILURE_KINDS: readonly FailureKind[] = [
  'function_error',
  'response_too_large',
  'crashed',
  'out_of_memory',
  'timed_out',
  'init_failed',
  'superseded',
  'throttled',
  'platform_error',
];

/** A failure with what the caller is told about it (`error.type` is e.g. `ValueError`, `Crash`). */
export interface Failure {
  kind: FailureKind;
  error: ExecutionError;
}

/** For the default branch of a switch over a closed union: the compiler errors when a member is missing. */
export function unreachable(value: never): never {
  throw new Error(`unhandled case: ${String(value)}`);
}

/**
 * Whose fault a failure was, as the execution record keeps it; null for `throttled`, which ends
 * before an execution exists.
 */
export function outcomeClassOf(kind: FailureKind): Outcome | null {
  switch (kind) {
    case 'function_error':
    case 'response_too_large':
      return 'function_error';
    case 'crashed':
    case 'out_of_memory':
    case 'timed_out':
    case 'init_failed':
      return 'developer_error';
    case 'superseded':
    case 'platform_error':
      return 'platform_error';
    case 'throttled':
      return null;
    default:
      return unreachable(kind);
  }
}

/** The execution record's final status for a failure (`timeout` is kept apart, as it always was). */
export function failedStatusOf(kind: FailureKind): ExecutionStatus {
  return kind === 'timed_out' ? 'timeout' : 'failed';
}
