/**
 * Lambda's InvokeWithResponseStream on Nimbus's engine: the call runs like a RequestResponse
 * Invoke, asking the runtime for a streamed response. A handler wrapped in
 * `awslambda.streamifyResponse` sends its bytes as it writes them; each becomes a `PayloadChunk`
 * event as it comes, paced by the client (the runtime may be at most a window ahead). Any other
 * handler's result is one `PayloadChunk`. The last event is `InvokeComplete`, carrying the
 * function's error (ErrorCode, ErrorDetails) and, with `X-Amz-Log-Type: Tail`, the log's tail.
 * Errors found before the call runs (unknown function, bad payload, throttling) and platform
 * failures before the first byte are ordinary Lambda error responses.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LIMITS } from '../../core/function.js';
import { LATEST } from '../../core/version.js';
import type { HttpResponseSink } from '../../engine/invocation/instance.js';
import type { ApiDeps } from '../deps.js';
import { HTTP_STREAM_LIMITS } from '../http-trigger-styles.js';
import { pacedWriter } from '../paced-writer.js';
import { invokeCompleteMessage, payloadChunkMessage, type InvokeComplete } from './event-stream.js';
import { invalidParameter } from './lambda-errors.js';
import {
  callContextOf,
  errorDocument,
  eventOf,
  failedCallError,
  headerValue,
  logTail,
  logTypeOf,
  servingRecord,
} from './lambda-invoke.js';
import { lambdaAnswerOf } from './outcome-lambda.js';

/** The error code of a stream cut off at the response size limit (Lambda's name for it). */
const TOO_LARGE = 'Function.ResponseSizeTooLarge';

export async function invokeWithResponseStream(
  deps: ApiDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  name: string,
  qualifier?: string,
): Promise<FastifyReply> {
  const type = headerValue(request, 'x-amz-invocation-type') ?? 'RequestResponse';
  if (type !== 'RequestResponse' && type !== 'DryRun') {
    throw invalidParameter(
      `X-Amz-Invocation-Type must be RequestResponse or DryRun for InvokeWithResponseStream (got ${type}); use Invoke for Event`,
    );
  }
  const logType = logTypeOf(request);
  const { clientContext, trace } = callContextOf(request);
  const body = eventOf(request, 'RequestResponse');
  const q = qualifier === LATEST ? undefined : qualifier;
  const fn = await servingRecord(deps, name, q);
  if (type === 'DryRun') return reply.header('x-amz-executed-version', fn.version).code(204).send();

  const res = reply.raw;
  const write = pacedWriter(res);
  let contentType: string | undefined;
  let bytes = 0;
  let cut: string | undefined;
  let tooLarge = false;
  /** Sends the response head once: from here on the answer is the event stream. */
  const start = (executionId: string, type: string) => {
    if (reply.sent) return;
    void reply.hijack();
    res.writeHead(200, {
      'content-type': type,
      'x-amzn-requestid': executionId,
      'x-amz-executed-version': fn.version,
    });
  };
  const sink: HttpResponseSink = {
    style: 'response-stream',
    head(executionId, _status, headers) {
      contentType = headers.find(([header]) => header === 'content-type')?.[1] ?? 'application/octet-stream';
      start(executionId, contentType);
    },
    chunk(data, written) {
      // Asked again on every chunk that comes after the end: a cancel sent before the runtime
      // started the call (it waited behind its init) finds no call to stop.
      if (cut !== undefined || res.destroyed) return sink.cancel?.();
      if (bytes + data.length > HTTP_STREAM_LIMITS.responseBytes) {
        cut = `the function's response passed the limit of ${HTTP_STREAM_LIMITS.responseBytes} bytes and was cut off`;
        tooLarge = true;
        sink.cancel?.();
        return;
      }
      bytes += data.length;
      write(payloadChunkMessage(data), written);
    },
    summary() {
      if (contentType === undefined) return undefined;
      return JSON.stringify({ contentType, bytes, ...(cut !== undefined ? { cut } : {}) });
    },
  };
  res.on('close', () => {
    if (res.writableFinished) return;
    cut ??= 'the client closed the connection before the response ended';
    sink.cancel?.();
  });

  const { execution, payload, failure } = await deps.invoker.invoke(fn, body, {
    trigger: 'api',
    maxResultBytes: LIMITS.syncPayloadBytes,
    qualifier: q,
    trace,
    clientContext,
    http: sink,
  });
  if (contentType === undefined) {
    // Nothing was streamed: a handler that does not stream, or a failure before the first byte.
    const answer = failure && lambdaAnswerOf(failure);
    if (failure && answer && !answer.unhandled) throw failedCallError(answer, execution, failure);
    start(execution.id, 'application/json');
    if (payload && payload.length > 0) res.write(payloadChunkMessage(payload));
  }
  const complete: InvokeComplete = {};
  if (tooLarge) {
    complete.ErrorCode = TOO_LARGE;
    complete.ErrorDetails = cut;
  } else if (failure) {
    const answer = lambdaAnswerOf(failure);
    const errorType = answer.unhandled ? answer.errorType : answer.exception;
    complete.ErrorCode = errorType;
    complete.ErrorDetails = JSON.stringify(errorDocument(execution, failure, errorType, fn));
  }
  if (logType === 'Tail') complete.LogResult = await logTail(deps, execution);
  if (!res.destroyed) res.end(invokeCompleteMessage(complete));
  return reply;
}
