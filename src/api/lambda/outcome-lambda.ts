/**
 * How the Lambda API's Invoke (and InvokeWithResponseStream) answers a call that failed, as Lambda
 * does: the function's failures are a 200 with `X-Amz-Function-Error: Unhandled` and an error
 * document of Lambda's `errorType` (the function's own, or `Runtime.ExitError`,
 * `Runtime.OutOfMemory`, `Sandbox.Timedout`, `Function.ResponseSizeTooLarge`); anything else is a
 * Lambda exception. One exhaustive switch over the closed failure union.
 */
import { unreachable, type Failure } from '../../core/outcome.js';

export type LambdaFailureAnswer =
  /** 200 with `X-Amz-Function-Error: Unhandled`, the error document naming `errorType`. */
  | { unhandled: true; errorType: string }
  /** A Lambda exception (`x-amzn-ErrorType`) with its status. */
  | { unhandled: false; exception: string; status: number };

export function lambdaAnswerOf(failure: Failure): LambdaFailureAnswer {
  const { kind, error } = failure;
  switch (kind) {
    case 'function_error':
      return { unhandled: true, errorType: error.type };
    case 'response_too_large':
      return { unhandled: true, errorType: 'Function.ResponseSizeTooLarge' };
    case 'crashed':
      return { unhandled: true, errorType: 'Runtime.ExitError' };
    case 'out_of_memory':
      return { unhandled: true, errorType: 'Runtime.OutOfMemory' };
    case 'timed_out':
      return { unhandled: true, errorType: 'Sandbox.Timedout' };
    case 'init_failed':
      // The runtime's own type when it reported one (e.g. Runtime.ImportModuleError, or what the
      // module threw); a process that died while loading is an exit, as on Lambda.
      return {
        unhandled: true,
        errorType: error.type === 'Crash' || error.type === 'Segfault' ? 'Runtime.ExitError' : error.type,
      };
    case 'superseded':
      return { unhandled: false, exception: 'ResourceConflictException', status: 409 };
    case 'throttled':
      return { unhandled: false, exception: 'TooManyRequestsException', status: 429 };
    case 'platform_error':
      return { unhandled: false, exception: 'ServiceException', status: 500 };
    default:
      return unreachable(kind);
  }
}
