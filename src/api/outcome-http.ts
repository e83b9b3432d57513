/**
 * How the REST API's invoke and the HTTP triggers answer a call that failed: one table for both
 * doors (a status, an error code of the API's error shape), switched exhaustively over the closed
 * failure union, so a new kind of failure cannot reach a caller unmapped.
 */
import { NimbusError, type ErrorCode } from '../core/errors.js';
import { unreachable, type Failure, type FailureKind } from '../core/outcome.js';

export interface HttpFailureAnswer {
  status: number;
  code: ErrorCode;
}

/**
 * The answer to each kind of failure. The function's own failures (an error, a crash, a result too
 * large) are 502: the gateway's upstream failed, which keeps them apart from Nimbus's own 500.
 */
export function httpAnswerOf(kind: FailureKind): HttpFailureAnswer {
  switch (kind) {
    case 'function_error':
      return { status: 502, code: 'FUNCTION_ERROR' };
    case 'response_too_large':
      return { status: 502, code: 'PAYLOAD_TOO_LARGE' };
    case 'crashed':
    case 'init_failed':
      return { status: 502, code: 'FUNCTION_CRASHED' };
    case 'out_of_memory':
      return { status: 502, code: 'FUNCTION_OUT_OF_MEMORY' };
    case 'timed_out':
      return { status: 504, code: 'FUNCTION_TIMEOUT' };
    case 'superseded':
      return { status: 503, code: 'FUNCTION_CHANGED' };
    case 'throttled':
      return { status: 429, code: 'TOO_MANY_REQUESTS' };
    case 'platform_error':
      return { status: 500, code: 'INTERNAL' };
    default:
      return unreachable(kind);
  }
}

/** A failed call as the API's error (message `Type: message`) and the status to send it with. */
export function httpFailure(failure: Failure): { err: NimbusError; status: number } {
  const { status, code } = httpAnswerOf(failure.kind);
  return { err: new NimbusError(code, `${failure.error.type}: ${failure.error.message}`), status };
}
