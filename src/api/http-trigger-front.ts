/**
 * The HTTP trigger front door: serves every enabled HTTP trigger at `/fn/<function>/<any path>`
 * and, for triggers with a host name, at any path of requests to that host. Plain node:http ahead
 * of fastify, like the invoke front door. It answers CORS preflights itself, checks the trigger's
 * auth (bearer key or signed URL), reads the body (6 MB cap), turns the request into the trigger
 * style's event and runs it through the Invoker as an `http` execution. `lambda` results are
 * mapped as function URLs map them, and `lambda` handlers that stream (`awslambda.streamifyResponse`)
 * are answered as function URLs in RESPONSE_STREAM mode answer; `wsgi` and `fetch` responses are
 * streamed to the client as the runtime sends them, paced by the client (up to
 * HTTP_STREAM_LIMITS.responseBytes).
 * Must never pass the trigger key or the admin key to a function, nor log them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NimbusError } from '../core/errors.js';
import { LIMITS } from '../core/function.js';
import type { CorsSettings } from '../core/trigger.js';
import type { HttpResponseSink } from '../engine/instance.js';
import type { InvocationOutcome } from '../engine/invoker.js';
import { HTTP_INTEGRATION_CONTENT_TYPE, type HttpRequestEvent } from '../runtimes/protocol.js';
import { newRequestId } from './auth.js';
import { RETRY_AFTER_SEC, type BodyBudget } from './body-budget.js';
import { isProblem, traceIdOf } from './call-context.js';
import type { ApiDeps } from './deps.js';
import { errorBody } from './errors.js';
import { httpFailure } from './outcome-http.js';
import type { HttpRoute, HttpTriggerTable } from './http-trigger-table.js';
import type { FrontLogger } from './invoke-front.js';
import { pacedWriter } from './paced-writer.js';
import {
  StreamPreludeReader,
  lambdaUrlEvent,
  lambdaUrlResponse,
  type TriggerRequest,
  type TriggerResponse,
} from './lambda-url-event.js';
import { isPlatformPath } from './platform-paths.js';
import { splitSignature, triggerAuthError } from './trigger-auth.js';
import { normalizeTriggerPath } from './trigger-path.js';

export const HTTP_STREAM_LIMITS = {
  /** Request bodies (all styles), as for a synchronous invoke. */
  requestBytes: LIMITS.syncPayloadBytes,
  /**
   * Streamed response bodies (`wsgi`, `fetch`, streaming `lambda` handlers, InvokeWithResponseStream);
   * other `lambda` responses have the 6 MB sync limit.
   */
  responseBytes: 100 * 1024 * 1024,
} as const;

const PREFIX = '/fn/';

/** Connection-level headers a function may not set: the server owns the connection. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
]);

interface Target {
  route: HttpRoute | undefined;
  functionName: string;
  /** Path as the function sees it, percent-encoded, from `/`. */
  path: string;
  /** The mount prefix before `path`: `/fn/<name>` (as sent) for path routing, empty for host routing. */
  scriptName: string;
  rawQuery: string;
}

/**
 * The target of a request, undefined when it is not for a trigger (fastify serves it), or why a
 * request for a trigger is refused. Paths are normalised first (trigger-path.ts). The platform's
 * own routes (`/v1/…`, the Lambda API) come before host-routed triggers: a trigger's host name
 * never catches a request meant for the API, nor the key it carries.
 */
function targetOf(req: IncomingMessage, table: HttpTriggerTable): Target | { error: string } | undefined {
  const url = req.url ?? '/';
  // Every other request (the invoke hot path among them) pays one check and one startsWith.
  if (!table.hasHosts && !url.startsWith(PREFIX)) return undefined;
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const rawQuery = q === -1 ? '' : url.slice(q + 1);
  const normalized = normalizeTriggerPath(rawPath);
  const route = table.hasHosts ? table.forHost(hostName(req.headers.host)) : undefined;
  if (route) {
    if ('error' in normalized) return normalized;
    if (isPlatformPath(normalized.path)) return undefined;
    return {
      route,
      functionName: route.trigger.functionName,
      path: normalized.path,
      scriptName: '',
      rawQuery,
    };
  }
  if (!rawPath.startsWith(PREFIX)) return undefined;
  if ('error' in normalized) return normalized;
  const path = normalized.path;
  if (!path.startsWith(PREFIX)) return undefined; // e.g. /fn/a/../../v1/health: not a trigger's
  const slash = path.indexOf('/', PREFIX.length);
  const encoded = slash === -1 ? path.slice(PREFIX.length) : path.slice(PREFIX.length, slash);
  let functionName: string;
  try {
    functionName = decodeURIComponent(encoded);
  } catch {
    functionName = encoded;
  }
  return {
    route: table.forFunction(functionName),
    functionName,
    path: slash === -1 ? '/' : path.slice(slash),
    scriptName: slash === -1 ? path : path.slice(0, slash),
    rawQuery,
  };
}

function hostName(header: string | undefined): string {
  if (!header) return '';
  const h = header.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/**
 * Returns a request listener that serves trigger requests and hands every other request to
 * `next` (the invoke front door, then fastify).
 */
export function httpTriggerFront(
  deps: ApiDeps,
  table: HttpTriggerTable,
  bodyBudget: BodyBudget,
  log: FrontLogger,
  next: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const target = targetOf(req, table);
    if (target === undefined) return next(req, res);
    if ('error' in target) {
      return sendError(res, newRequestId(), new NimbusError('VALIDATION_FAILED', target.error));
    }
    serve(deps, bodyBudget, log, target, req, res).catch((err: unknown) => {
      log(err, 'unhandled error in an HTTP trigger');
      if (!res.headersSent) {
        sendError(
          res,
          newRequestId(),
          new NimbusError('INTERNAL', 'internal error; the server log has the details'),
        );
      } else res.destroy();
    });
  };
}

function sendError(
  res: ServerResponse,
  requestId: string,
  err: NimbusError,
  options: { status?: number; headers?: string[]; extra?: Record<string, unknown> } = {},
): void {
  const body = JSON.stringify(errorBody(err, requestId, options.extra));
  res.writeHead(options.status ?? err.status, [
    ...(options.headers ?? []),
    'content-type',
    'application/json; charset=utf-8',
    'content-length',
    String(Buffer.byteLength(body)),
  ]);
  res.end(body);
}

/** Answers without reading the body; the connection closes so the unread bytes are dropped. */
function refuse(req: IncomingMessage, res: ServerResponse, answer: () => void): void {
  res.setHeader('connection', 'close');
  answer();
  req.resume();
}

async function serve(
  deps: ApiDeps,
  bodyBudget: BodyBudget,
  log: FrontLogger,
  target: Target,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const requestId = newRequestId();
  const method = (req.method ?? 'GET').toUpperCase();
  const { route } = target;
  if (!route) {
    return refuse(req, res, () =>
      sendError(
        res,
        requestId,
        new NimbusError(
          'ROUTE_NOT_FOUND',
          `function '${target.functionName}' has no enabled HTTP trigger; add one with \`nimbus triggers create ${target.functionName} --type http\``,
        ),
      ),
    );
  }
  const { config } = route;
  const origin = req.headers.origin;
  const cors = config.cors && origin !== undefined ? corsFor(config.cors, origin) : undefined;

  if (
    config.cors &&
    method === 'OPTIONS' &&
    origin !== undefined &&
    req.headers['access-control-request-method']
  ) {
    return refuse(req, res, () => answerPreflight(req, res, route, cors));
  }
  if (!(config.methods as string[]).includes(method)) {
    const allow = config.methods.join(', ');
    return refuse(req, res, () =>
      sendError(
        res,
        requestId,
        new NimbusError('METHOD_NOT_ALLOWED', `this trigger accepts ${allow}, not ${method}`),
        { headers: ['allow', allow, ...(cors ?? [])] },
      ),
    );
  }

  const { query, params } = splitSignature(target.rawQuery);
  if (config.auth === 'key') {
    const denied = triggerAuthError(
      route.trigger.secret ?? '',
      {
        method,
        pathAndQuery: query === '' ? target.path : `${target.path}?${query}`,
        authorization: req.headers.authorization,
        signed: params,
      },
      Date.now(),
    );
    if (denied) {
      return refuse(req, res, () => sendError(res, requestId, denied, { headers: cors ?? [] }));
    }
  }

  const limit = HTTP_STREAM_LIMITS.requestBytes;
  const tooLarge = new NimbusError(
    'PAYLOAD_TOO_LARGE',
    `request body is over the limit of 6 MB for an HTTP trigger; send larger data by reference (a URL)`,
  );
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    return refuse(req, res, () => sendError(res, requestId, tooLarge, { headers: cors ?? [] }));
  }
  if (!bodyBudget.admit(req, res, limit)) {
    const headers = [...(cors ?? []), 'retry-after', String(RETRY_AFTER_SEC)];
    return refuse(req, res, () => sendError(res, requestId, bodyBudget.refusal(), { headers }));
  }
  const body = await readBody(req, limit);
  if (body === undefined)
    return refuse(req, res, () => sendError(res, requestId, tooLarge, { headers: cors ?? [] }));

  const headers: [string, string][] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    // A trigger key is proof for the platform, and an anonymous trigger's caller may send
    // credentials meant for someone else: neither is data for the function.
    if (name === 'authorization') continue;
    headers.push([name, raw[i + 1]!]);
  }
  const local = req.socket.localPort ?? 80;
  const request: TriggerRequest = {
    method,
    path: target.path,
    query,
    headers,
    body,
    scheme: 'http',
    host: req.headers.host ?? `localhost:${local}`,
    port: portOf(req.headers.host) ?? local,
    sourceIp: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
    protocol: `HTTP/${req.httpVersion}`,
    functionName: route.trigger.functionName,
    qualifier: config.qualifier ?? undefined,
    requestId,
  };
  const extraHeaders = cors ?? [];
  if (config.style === 'lambda') return serveLambda(deps, request, res, extraHeaders);
  return serveStreaming(deps, log, config.style, request, target.scriptName, res, extraHeaders);
}

/** The request's `X-Amzn-Trace-Id` for the function's `_X_AMZN_TRACE_ID`; one that is not usable is dropped. */
function traceOf(request: TriggerRequest): string | undefined {
  const trace = traceIdOf(request.headers.find(([name]) => name === 'x-amzn-trace-id')?.[1]);
  return isProblem(trace) ? undefined : trace;
}

function portOf(host: string | undefined): number | undefined {
  const m = /:(\d+)$/.exec(host ?? '');
  return m ? Number(m[1]) : undefined;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeListener('data', onData);
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/** The CORS headers for a real response to an allowed origin; undefined when it is not allowed. */
function corsFor(cors: CorsSettings, origin: string): string[] | undefined {
  const any = cors.allowOrigins.includes('*');
  if (!any && !cors.allowOrigins.includes(origin)) return undefined;
  const headers = ['access-control-allow-origin', any && !cors.allowCredentials ? '*' : origin];
  if (!any || cors.allowCredentials) headers.push('vary', 'origin');
  if (cors.allowCredentials) headers.push('access-control-allow-credentials', 'true');
  if (cors.exposeHeaders.length > 0)
    headers.push('access-control-expose-headers', cors.exposeHeaders.join(', '));
  return headers;
}

/** A preflight is answered here, without calling the function. */
function answerPreflight(
  req: IncomingMessage,
  res: ServerResponse,
  route: HttpRoute,
  allowed: string[] | undefined,
): void {
  const cors = route.config.cors!;
  const methods = cors.allowMethods.length > 0 ? cors.allowMethods : route.config.methods;
  const wanted = String(req.headers['access-control-request-method']).toUpperCase();
  const headers: string[] = [];
  if (allowed && (methods.includes('*') || methods.includes(wanted))) {
    headers.push(...allowed, 'access-control-allow-methods', methods.join(', '));
    const requested = req.headers['access-control-request-headers'];
    if (cors.allowHeaders.includes('*') && requested) headers.push('access-control-allow-headers', requested);
    else if (cors.allowHeaders.length > 0)
      headers.push('access-control-allow-headers', cors.allowHeaders.join(', '));
    if (cors.maxAgeSec > 0) headers.push('access-control-max-age', String(cors.maxAgeSec));
  }
  if (!headers.includes('vary')) headers.push('vary', 'origin');
  headers.push('content-length', '0');
  res.writeHead(204, headers);
  res.end();
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
    headers: ['x-nimbus-execution-id', execution.id, ...headers],
    extra: {
      type: failed.error.type,
      stack: failed.error.stack,
      executionId: execution.id,
      outcome: execution.outcome,
    },
  });
}

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

async function serveLambda(
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
        headers: ['x-nimbus-execution-id', ran.id, ...extraHeaders],
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
      ...dropHopByHop(response.headers),
      ...extraHeaders,
      'x-nimbus-execution-id',
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
      headers: ['x-nimbus-execution-id', executionId!, ...extraHeaders],
      extra: { executionId },
    });
  };
  const startResponse = (status: number, flat: string[]): boolean => {
    const headers = dropHopByHop(flat);
    const summary: Record<string, string> = {};
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase();
      summary[name] = summary[name] === undefined ? headers[i + 1]! : `${summary[name]}, ${headers[i + 1]}`;
    }
    head = { status, headers: summary };
    try {
      res.writeHead(status, [...headers, ...extraHeaders, 'x-nimbus-execution-id', executionId!]);
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
        cut = `the response body passed the limit of ${HTTP_STREAM_LIMITS.responseBytes} bytes and was cut off`;
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

/** Leaves out connection-level headers and any content-length (the server sets it). */
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

/** Calls `gone` when the client closes the connection before the whole response was written. */
function onClientGone(res: ServerResponse, gone: () => void): void {
  res.on('close', () => {
    if (!res.writableFinished) gone();
  });
}

function dropHopByHop(flat: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || name === 'content-length') continue;
    out.push(flat[i]!, flat[i + 1]!);
  }
  return out;
}

async function serveStreaming(
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
  const waiting: (() => void)[] = [];
  const drained = () => {
    for (const written of waiting.splice(0)) written();
  };
  const sink: HttpResponseSink = {
    style,
    head(executionId, status, fnHeaders) {
      const flat: string[] = [];
      const summary: Record<string, string> = {};
      for (const [name, value] of fnHeaders) {
        const lower = name.toLowerCase();
        if (HOP_BY_HOP.has(lower)) continue;
        flat.push(lower, value);
        summary[lower] = summary[lower] === undefined ? value : `${summary[lower]}, ${value}`;
      }
      head = { status, headers: summary };
      try {
        if (!Number.isInteger(status) || status < 100 || status > 599) {
          throw new Error(`status ${status} is not an HTTP status`);
        }
        res.writeHead(status, [...flat, ...extraHeaders, 'x-nimbus-execution-id', executionId]);
      } catch (err) {
        cut = `the function's response head is not valid: ${(err as Error).message}`;
        sink.cancel?.();
        sendError(res, request.requestId, new NimbusError('FUNCTION_ERROR', cut), {
          status: 502,
          headers: ['x-nimbus-execution-id', executionId, ...extraHeaders],
          extra: { executionId },
        });
      }
    },
    chunk(data, written) {
      if (cut !== undefined || res.destroyed) return;
      if (bytes + data.length > HTTP_STREAM_LIMITS.responseBytes) {
        cut = `the response body passed the limit of ${HTTP_STREAM_LIMITS.responseBytes} bytes and was cut off`;
        sink.cancel?.();
        res.destroy();
        return;
      }
      bytes += data.length;
      if (res.write(data)) written();
      else {
        if (waiting.length === 0) res.once('drain', drained);
        waiting.push(written);
      }
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
