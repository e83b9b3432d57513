/**
 * Lambda's Invoke on Nimbus's engine: RequestResponse through the Invoker, Event through the
 * durable async queue (202), DryRun (204 after the checks); `X-Amz-Log-Type: Tail` returns the end
 * of the execution's log, and function failures answer 200 with `X-Amz-Function-Error: Unhandled`
 * and Lambda's error document, as Lambda does. Platform failures are ServiceException.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Execution } from '../../core/execution.js';
import type { Failure } from '../../core/outcome.js';
import { LIMITS, type FunctionRecord } from '../../core/function.js';
import { clientContextOf, isProblem, traceIdOf } from '../call-context.js';
import { renderExecutionLog } from '../../engine/executions/report-lines.js';
import type { ApiDeps } from '../deps.js';
import { LATEST, isVersionNumber } from '../../core/version.js';
import { LambdaApiError, invalidParameter } from './lambda-errors.js';
import { lambdaAnswerOf } from './outcome-lambda.js';
import { lambdaStackTrace } from './stack-trace.js';

/** Lambda returns at most the last 4 KB of the log. */
const TAIL_BYTES = 4096;
const EMPTY_EVENT = Buffer.from('{}');

export async function invokeFunction(
  deps: ApiDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  name: string,
  qualifier?: string,
): Promise<FastifyReply> {
  const type = headerValue(request, 'x-amz-invocation-type') ?? 'RequestResponse';
  if (type !== 'RequestResponse' && type !== 'Event' && type !== 'DryRun') {
    throw invalidParameter(`X-Amz-Invocation-Type must be RequestResponse, Event or DryRun (got ${type})`);
  }
  const logType = logTypeOf(request);
  const { clientContext, trace } = callContextOf(request);
  const body = eventOf(request, type === 'Event' ? 'Event' : 'RequestResponse');
  const text = body.toString('utf8');
  const q = qualifier === LATEST ? undefined : qualifier;
  const fn = await servingRecord(deps, name, q);
  if (type === 'DryRun') return reply.header('x-amz-executed-version', fn.version).code(204).send();
  if (type === 'Event') {
    // A queued call resolves its qualifier again when it runs, so an alias's pick is made then.
    const queued = await deps.dispatcher.enqueue({
      functionName: fn.name,
      event: text,
      trigger: 'api',
      qualifier: q,
      trace,
    });
    if (q === undefined || isVersionNumber(q)) reply.header('x-amz-executed-version', fn.version);
    return reply.code(202).header('x-amzn-requestid', queued.id).send();
  }

  const { execution, payload, failure } = await deps.invoker.invoke(fn, body, {
    trigger: 'api',
    maxResultBytes: LIMITS.syncPayloadBytes,
    qualifier: q,
    trace,
    clientContext,
  });
  reply.header('x-amzn-requestid', execution.id);
  reply.header('x-amz-executed-version', execution.version);
  if (logType === 'Tail') reply.header('x-amz-log-result', await logTail(deps, execution));
  if (!failure) return reply.code(200).type('application/json').send(payload);
  const answer = lambdaAnswerOf(failure);
  if (!answer.unhandled) throw failedCallError(answer, execution, failure);
  return reply
    .code(200)
    .header('x-amz-function-error', 'Unhandled')
    .type('application/json')
    .send(errorDocument(execution, failure, answer.errorType, fn));
}

/** The Lambda exception a call that failed outside the function's code is answered with. */
export function failedCallError(
  answer: { exception: string; status: number },
  execution: Execution,
  failure: Failure,
): LambdaApiError {
  const what =
    failure.kind === 'platform_error' ? 'Nimbus failed to run the function' : 'the call did not run';
  return new LambdaApiError(
    answer.exception,
    answer.status,
    `${what} (execution ${execution.id}): ${failure.error.message}`,
  );
}

/** `X-Amz-Log-Type`: `None` (the default) or `Tail`. */
export function logTypeOf(request: FastifyRequest): 'None' | 'Tail' {
  const logType = headerValue(request, 'x-amz-log-type') ?? 'None';
  if (logType !== 'None' && logType !== 'Tail') {
    throw invalidParameter(`X-Amz-Log-Type must be None or Tail (got ${logType})`);
  }
  return logType;
}

/**
 * The record that serves a call: `$LATEST` (no qualifier), a version, or the version a (weighted)
 * alias picks for this call.
 */
export async function servingRecord(
  deps: ApiDeps,
  name: string,
  qualifier: string | undefined,
): Promise<FunctionRecord> {
  return qualifier === undefined
    ? (deps.functions.cached(name) ?? (await deps.functions.get(name)))
    : await deps.versions.resolve(name, qualifier);
}

/**
 * What the caller says about the call besides its event: `X-Amz-Client-Context` and
 * `X-Amzn-Trace-Id`, checked (InvalidRequestContentException saying what to send otherwise).
 */
export function callContextOf(request: FastifyRequest): { clientContext?: string; trace?: string } {
  const clientContext = clientContextOf(request.headers['x-amz-client-context']);
  if (isProblem(clientContext)) {
    throw new LambdaApiError('InvalidRequestContentException', 400, clientContext.problem);
  }
  const trace = traceIdOf(request.headers['x-amzn-trace-id']);
  if (isProblem(trace)) throw new LambdaApiError('InvalidRequestContentException', 400, trace.problem);
  return { clientContext, trace };
}

/**
 * The request's event: the body (`{}` when empty), checked to be JSON and within the limit of the
 * invocation type (a Lambda error saying which otherwise).
 */
export function eventOf(request: FastifyRequest, type: 'Event' | 'RequestResponse'): Buffer {
  const body = Buffer.isBuffer(request.body) && request.body.length > 0 ? request.body : EMPTY_EVENT;
  const limit = type === 'Event' ? LIMITS.asyncPayloadBytes : LIMITS.syncPayloadBytes;
  if (body.length > limit) {
    throw new LambdaApiError(
      'RequestTooLargeException',
      413,
      `Request must be smaller than ${limit} bytes for the ${type} invocation type`,
    );
  }
  try {
    JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new LambdaApiError(
      'InvalidRequestContentException',
      400,
      `Could not parse request body into json: ${(err as Error).message}`,
    );
  }
  return body;
}

/**
 * Lambda's error document for a failed execution (what Invoke returns with `Unhandled`);
 * `errorType` is what lambdaAnswerOf names.
 */
export function errorDocument(
  execution: Execution,
  failure: Failure,
  errorType: string,
  fn: Pick<FunctionRecord, 'runtime' | 'timeoutSec'>,
): Record<string, unknown> {
  const error = failure.error;
  const errorMessage =
    failure.kind === 'timed_out'
      ? `${execution.startedAt} ${execution.id} Task timed out after ${fn.timeoutSec.toFixed(2)} seconds`
      : error.message;
  const stack = lambdaStackTrace(fn.runtime, error.stack);
  // Each runtime's own shape: Lambda's Node runtime reports `trace` (the stack's lines, message
  // first), its Python runtime `requestId` and `stackTrace` (an entry per frame).
  return fn.runtime === 'nodejs'
    ? { errorType, errorMessage, trace: stack }
    : { errorMessage, errorType, requestId: execution.id, stackTrace: stack };
}

/**
 * The end of the execution's log as Lambda returns it (START, the lines, END, REPORT): the last
 * 4 KB, base64.
 */
export async function logTail(deps: ApiDeps, execution: Execution): Promise<string> {
  const lines = renderExecutionLog(execution, await deps.executions.logs(execution.id));
  const text = lines.map((line) => `${line.message}\n`).join('');
  const bytes = Buffer.from(text, 'utf8');
  return bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES)).toString('base64');
}

export function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
