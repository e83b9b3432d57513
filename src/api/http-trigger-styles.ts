/**
 * How an HTTP trigger's call is served, per trigger style, once http-trigger-front.ts has routed,
 * checked and read the request. `lambda`: the request becomes a function URL event and the result
 * is mapped as function URLs map it; a handler that streams (`awslambda.streamifyResponse`) is
 * answered as function URLs in RESPONSE_STREAM mode answer. `wsgi` and `fetch`: the request goes to
 * the runtime as is and the response is streamed to the client as the runtime sends it, paced by
 * the client (up to HTTP_STREAM_LIMITS.responseBytes). A call that produced no response is
 * answered as the REST API answers its failure (outcome-http.ts).
 * Must never pass the trigger key or the admin key to a function, nor log them.
 */
import type { ServerResponse } from 'node:http';
import { NimbusError } from '../core/errors.js';
import { LIMITS } from '../core/function.js';
import type { HttpResponseSink } from '../engine/invocation/instance.js';
import type { InvocationOutcome } from '../engine/invocation/invoker.js';
import { HTTP_INTEGRATION_CONTENT_TYPE, type HttpRequestEvent } from '../runtimes/protocol.js';
import { isProblem, traceIdOf } from './call-context.js';
import type { ApiDeps } from './deps.js';
import {
  StreamPreludeReader,
  lambdaUrlEvent,
  lambdaUrlResponse,
  type TriggerRequest,
  type TriggerResponse,
} from './lambda-url-event.js';
import { httpFailure } from './outcome-http.js';
import { pacedWriter } from './paced-writer.js';
import {
  EXECUTION_ID_HEADER,
  isHopByHop,
  onClientGone,
  sendError,
  withoutHopByHop,
  type FrontLogger,
} from './raw-http.js';

/** The sizes an HTTP trigger call may have (InvokeWithResponseStream shares the response limit). */
export const HTTP_STREAM_LIMITS = {
  /** Request bodies (all styles), as for a synchronous invoke. */
  requestBytes: LIMITS.syncPayloadBytes,
  /**
   * Streamed response bodies (`wsgi`, `fetch`, streaming `lambda` handlers, InvokeWithResponseStream);
   * other `lambda` responses have the 6 MB sync limit.
   */
  responseBytes: 100 * 1024 * 1024,
} as const;

/** Why a streamed response was cut: it passed HTTP_STREAM_LIMITS.responseBytes. */
const RESPONSE_LIMIT_PASSED = `the response body passed the limit of ${HTTP_STREAM_LIMITS.responseBytes} bytes and was cut off`;

/** The request's `X-Amzn-Trace-Id` for the function's `_X_AMZN_TRACE_ID`; one that is not usable is dropped. */
function traceOf(request: TriggerRequest): string | undefined {
  const trace = traceIdOf(request.headers.find(([name]) => name === 'x-amzn-trace-id')?.[1]);
  return isProblem(trace) ? undefined : trace;
}

/**
 * Answers a call that produced no response: its failure as the REST API answers it, or, when the
 * call itself succeeded but its response was unusable, a function error saying why (`problem`).
 */
function sendFailure(
  res: ServerResponse,
  requestId: string,
  { execution, failure }: InvocationOutcome,
  headers: string[],
  problem = 'the function ended without a response',
): void {
  const failed = failure ?? { kind: 'function_error', error: { type: 'Error', message: problem } };
  const { err, status } = httpFailure(failed);
  sendError(res, requestId, err, {
    status,
    headers: [EXECUTION_ID_HEADER, execution.id, ...headers],
    extra: {
      type: failed.error.type,
      stack: failed.error.stack,
      executionId: execution.id,
      outcome: execution.outcome,
    },
  });
}

/** Runs the call; undefined when it was refused before it ran (then answered here with the refusal). */
async function invokeOrRefuse(
  deps: ApiDeps,
  request: TriggerRequest,
  res: ServerResponse,
  event: Buffer,
  extraHeaders: string[],
  http?: HttpResponseSink,
): Promise<InvocationOutcome | undefined> {
  try {
    return await deps.invoker.invoke(request.functionName, event, {
      trigger: 'http',
      maxResultBytes: LIMITS.syncPayloadBytes,
      http,
      qualifier: request.qualifier,
      trace: traceOf(request),
    });
  } catch (err) {
    if (!(err instanceof NimbusError) || res.headersSent) throw err;
    sendError(res, request.requestId, err, { headers: extraHeaders });
    return undefined;
  }
}

/** Serves a `lambda` style trigger's call (see the module comment). */
export async function serveLambda(
  deps: ApiDeps,
  request: TriggerRequest,
  res: ServerResponse,
  extraHeaders: string[],
): Promise<void> {
  const event = Buffer.from(JSON.stringify(lambdaUrlEvent(request, new Date())));
  const stream = responseStream(request, res, extraHeaders);
  let outcome: InvocationOutcome;
  try {
    outcome = await deps.invoker.invoke(request.functionName, event, {
      trigger: 'http',
      maxResultBytes: LIMITS.syncPayloadBytes,
      qualifier: request.qualifier,
      trace: traceOf(request),
      http: stream.sink,
    });
  } catch (err) {
    if (!(err instanceof NimbusError)) throw err;
    return sendError(res, request.requestId, err, { headers: extraHeaders });
  }
  if (stream.streamed()) return stream.finish(outcome);
  if (outcome.failure) return sendFailure(res, request.requestId, outcome, extraHeaders);
  const { execution, payload } = outcome;
  const ran = execution;
  const invalid = (problem: string, err: unknown) =>
    sendError(
      res,
      request.requestId,
      new NimbusError('FUNCTION_ERROR', `${problem}: ${(err as Error).message}`),
      {
        status: 502,
        headers: [EXECUTION_ID_HEADER, ran.id, ...extraHeaders],
        extra: { executionId: ran.id },
      },
    );
  let response: TriggerResponse;
  try {
    response = lambdaUrlResponse(payload);
  } catch (err) {
    return invalid("the function's result is not a valid HTTP response", err);
  }
  try {
    res.writeHead(response.status, [
      ...withoutHopByHop(response.headers),
      ...extraHeaders,
      EXECUTION_ID_HEADER,
      execution.id,
      'content-length',
      String(response.body.length),
    ]);
  } catch (err) {
    return invalid("the function's response headers are not valid", err);
  }
  res.end(response.body);
}

/**
 * The response of a `lambda` call whose handler streams (`awslambda.streamifyResponse`), as
 * function URLs in RESPONSE_STREAM mode answer: a stream of type
 * `application/vnd.awslambda.http-integration-response` starts with the `HttpResponseStream.from`
 * prelude (status, headers, cookies), anything else is a 200 of the stream's content type. The
 * body goes to the client as it comes, paced by the client, up to HTTP_STREAM_LIMITS.responseBytes.
 * A handler that does not stream leaves it unused (`streamed()` is false).
 */
function responseStream(
  request: TriggerRequest,
  res: ServerResponse,
  extraHeaders: string[],
): { sink: HttpResponseSink; streamed(): boolean; finish(outcome: InvocationOutcome): void } {
  const write = pacedWriter(res);
  let executionId: string | undefined;
  let prelude: StreamPreludeReader | undefined;
  let head: { status: number; headers: Record<string, string> } | undefined;
  let bytes = 0;
  let cut: string | undefined;
  const fail = (problem: string) => {
    cut = problem;
    sink.cancel?.();
    if (res.headersSent) return void res.destroy();
    sendError(res, request.requestId, new NimbusError('FUNCTION_ERROR', problem), {
      status: 502,
      headers: [EXECUTION_ID_HEADER, executionId!, ...extraHeaders],
      extra: { executionId },
    });
  };
  const startResponse = (status: number, flat: string[]): boolean => {
    const headers = withoutHopByHop(flat);
    const summary: Record<string, string> = {};
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase();
      summary[name] = summary[name] === undefined ? headers[i + 1]! : `${summary[name]}, ${headers[i + 1]}`;
    }
    head = { status, headers: summary };
    try {
      res.writeHead(status, [...headers, ...extraHeaders, EXECUTION_ID_HEADER, executionId!]);
      return true;
    } catch (err) {
      fail(`the function's response headers are not valid: ${(err as Error).message}`);
      return false;
    }
  };
  const sink: HttpResponseSink = {
    style: 'response-stream',
    head(id, _status, headers) {
      executionId = id;
      const type = headers.find(([name]) => name === 'content-type')?.[1] ?? 'application/octet-stream';
      if (type === HTTP_INTEGRATION_CONTENT_TYPE) prelude = new StreamPreludeReader();
      else startResponse(200, ['content-type', type]);
    },
    chunk(data, written) {
      // Asked again on every chunk that comes after the end: a cancel sent before the runtime
      // started the call (it waited behind its init) finds no call to stop.
      if (cut !== undefined || res.destroyed) return sink.cancel?.();
      if (bytes + data.length > HTTP_STREAM_LIMITS.responseBytes) {
        cut = RESPONSE_LIMIT_PASSED;
        sink.cancel?.();
        res.destroy();
        return;
      }
      bytes += data.length;
      let body = data;
      if (prelude) {
        let read: ReturnType<StreamPreludeReader['push']>;
        try {
          read = prelude.push(data);
        } catch (err) {
          return fail(`the function's response stream is not valid: ${(err as Error).message}`);
        }
        // Held until the prelude is complete (at most MAX_PRELUDE_BYTES).
        if (read === undefined) return written();
        prelude = undefined;
        if (!startResponse(read.status, read.headers)) return;
        body = read.rest;
        if (body.length === 0) return written();
      }
      write(body, written);
    },
    summary() {
      if (executionId === undefined) return undefined;
      return responseSummary(head, bytes, cut);
    },
  };
  onClientGone(res, () => {
    cut ??= CLIENT_GONE;
    sink.cancel?.();
  });
  return {
    sink,
    streamed: () => executionId !== undefined,
    finish(outcome) {
      if (res.writableEnded || res.destroyed) return;
      if (outcome.failure || cut !== undefined) {
        // Too late for an error answer once the head has gone: the client sees the body cut short.
        if (res.headersSent) return void res.destroy();
        return sendFailure(res, request.requestId, outcome, extraHeaders, cut);
      }
      if (prelude) {
        return fail(
          "the function's response stream ended inside its HttpResponseStream prelude (JSON, then 8 NUL bytes)",
        );
      }
      res.end();
    },
  };
}

/** Why a response was cut when its client went away. */
const CLIENT_GONE = 'the client closed the connection before the response ended';

/** What an execution's record keeps of a streamed response: status, headers, bytes, why it was cut. */
function responseSummary(
  head: { status: number; headers: Record<string, string> } | undefined,
  bytes: number,
  cut: string | undefined,
): string {
  return JSON.stringify({
    status: head?.status ?? null,
    headers: head?.headers ?? {},
    bytes,
    ...(cut !== undefined ? { cut } : {}),
  });
}

/** Serves a `wsgi` or `fetch` style trigger's call (see the module comment). */
export async function serveStreaming(
  deps: ApiDeps,
  log: FrontLogger,
  style: 'wsgi' | 'fetch',
  request: TriggerRequest,
  scriptName: string,
  res: ServerResponse,
  extraHeaders: string[],
): Promise<void> {
  const wire: HttpRequestEvent = {
    method: request.method,
    path: request.path,
    query: request.query,
    headers: request.headers,
    body: request.body.toString('base64'),
    scheme: request.scheme,
    host: request.host,
    port: request.port,
    sourceIp: request.sourceIp,
    protocol: request.protocol,
    ...(scriptName ? { scriptName } : {}),
  };
  let head: { status: number; headers: Record<string, string> } | undefined;
  let bytes = 0;
  let cut: string | undefined;
  const write = pacedWriter(res);
  const sink: HttpResponseSink = {
    style,
    head(executionId, status, fnHeaders) {
      const flat: string[] = [];
      const summary: Record<string, string> = {};
      for (const [name, value] of fnHeaders) {
        const lower = name.toLowerCase();
        if (isHopByHop(lower)) continue;
        flat.push(lower, value);
        summary[lower] = summary[lower] === undefined ? value : `${summary[lower]}, ${value}`;
      }
      head = { status, headers: summary };
      try {
        if (!Number.isInteger(status) || status < 100 || status > 599) {
          throw new Error(`status ${status} is not an HTTP status`);
        }
        res.writeHead(status, [...flat, ...extraHeaders, EXECUTION_ID_HEADER, executionId]);
      } catch (err) {
        cut = `the function's response head is not valid: ${(err as Error).message}`;
        sink.cancel?.();
        sendError(res, request.requestId, new NimbusError('FUNCTION_ERROR', cut), {
          status: 502,
          headers: [EXECUTION_ID_HEADER, executionId, ...extraHeaders],
          extra: { executionId },
        });
      }
    },
    chunk(data, written) {
      if (cut !== undefined || res.destroyed) return;
      if (bytes + data.length > HTTP_STREAM_LIMITS.responseBytes) {
        cut = RESPONSE_LIMIT_PASSED;
        sink.cancel?.();
        res.destroy();
        return;
      }
      bytes += data.length;
      write(data, written);
    },
    summary() {
      return responseSummary(head, bytes, cut);
    },
  };
  onClientGone(res, () => {
    cut ??= CLIENT_GONE;
    sink.cancel?.();
  });
  const outcome = await invokeOrRefuse(
    deps,
    request,
    res,
    Buffer.from(JSON.stringify(wire)),
    extraHeaders,
    sink,
  );
  if (!outcome) return;
  if (!outcome.failure && cut === undefined && res.headersSent) {
    res.end();
    return;
  }
  if (res.headersSent) {
    // Too late for an error answer: the client sees the body cut short.
    if (!res.writableEnded) res.destroy();
    return;
  }
  if (!outcome.failure) {
    log(new Error('no response head'), 'a streaming HTTP call succeeded without a response head');
  }
  sendFailure(res, request.requestId, outcome, extraHeaders, cut);
}
