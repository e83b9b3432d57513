/**
 * The data plane's front door: `POST /v1/functions/{name}/invoke` served straight from node:http,
 * ahead of fastify, because a warm call must cost little more than the hop to its sandbox (the
 * framework's routing, hooks and reply machinery cost as much as the whole rest of a call).
 * Everything else goes to fastify. Same contract as the other routes: bearer key, the one error
 * shape with a request id, 413 past the body limit, 503 (Retry-After) when the server-wide
 * BodyBudget for large bodies is taken, 400 for an event that is not JSON. With
 * `x-nimbus-invocation-type: async` (or Lambda's `Event`) the call is queued and answered 202.
 * `?qualifier=` names a version or alias (the query string is only parsed when there is one); the
 * answer's `x-nimbus-executed-version` says which version served the call.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NimbusError } from '../core/errors.js';
import { LIMITS } from '../core/function.js';
import { apiKeyError, newRequestId } from './auth.js';
import { RETRY_AFTER_SEC, type BodyBudget } from './body-budget.js';
import { clientContextOf, isProblem, traceIdOf } from './call-context.js';
import type { ApiDeps } from './deps.js';
import { errorBody } from './errors.js';
import { httpFailure } from './outcome-http.js';

const PREFIX = '/v1/functions/';
const SUFFIX = '/invoke';
const EMPTY_EVENT = Buffer.from('{}');
const INVOCATION_TYPE = 'x-nimbus-invocation-type';
const EXECUTED_VERSION = 'x-nimbus-executed-version';

/** The `qualifier` query parameter: undefined when absent, an error when given empty. */
function qualifierOf(url: string): string | undefined | NimbusError {
  const query = url.indexOf('?');
  if (query === -1) return undefined;
  const value = new URLSearchParams(url.slice(query + 1)).get('qualifier');
  if (value === null) return undefined;
  if (value.length === 0) {
    return new NimbusError(
      'VALIDATION_FAILED',
      'query parameter qualifier is empty: give $LATEST, a version number or an alias name, or leave it out',
      { field: 'qualifier' },
    );
  }
  return value;
}

/** Whether the request asks for an asynchronous call; undefined when the header's value is not understood. */
function isAsync(value: string | string[] | undefined): boolean | undefined {
  if (value === undefined) return false;
  const v = (Array.isArray(value) ? value[0] : value)?.trim().toLowerCase();
  if (v === 'async' || v === 'event') return true;
  if (v === 'sync' || v === 'requestresponse') return false;
  return undefined;
}

/**
 * The caller's trace id and client context (Lambda's headers, checked as the Lambda API checks
 * them); undefined when neither header is there, which is one lookup each on the hot path.
 */
function callContextOf(
  req: IncomingMessage,
): { trace: string | undefined; clientContext: string | undefined } | undefined | NimbusError {
  const traceHeader = req.headers['x-amzn-trace-id'];
  const contextHeader = req.headers['x-amz-client-context'];
  if (traceHeader === undefined && contextHeader === undefined) return undefined;
  const trace = traceIdOf(traceHeader);
  const clientContext = clientContextOf(contextHeader);
  for (const [value, field] of [
    [trace, 'x-amzn-trace-id'],
    [clientContext, 'x-amz-client-context'],
  ] as const) {
    if (isProblem(value)) return new NimbusError('VALIDATION_FAILED', value.problem, { field });
  }
  return { trace: trace as string | undefined, clientContext: clientContext as string | undefined };
}

/** Logs failures the engine did not expect (the fastify instance's logger). */
export type FrontLogger = (err: unknown, message: string) => void;

/** The function name when the request is an invoke call, else undefined (fastify serves it). */
function invokeTarget(req: IncomingMessage): string | undefined {
  if (req.method !== 'POST') return undefined;
  const url = req.url ?? '';
  if (!url.startsWith(PREFIX)) return undefined;
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (!path.endsWith(SUFFIX)) return undefined;
  const name = path.slice(PREFIX.length, path.length - SUFFIX.length);
  if (name.length === 0 || name.includes('/')) return undefined;
  try {
    return decodeURIComponent(name);
  } catch {
    return undefined;
  }
}

/**
 * Returns a request listener that serves invoke calls and hands every other request to `next`
 * (fastify's handler).
 */
export function invokeFront(
  deps: ApiDeps,
  bodyBudget: BodyBudget,
  log: FrontLogger,
  next: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  const expectedKey = Buffer.from(deps.adminKey);
  const syncLimit = LIMITS.syncPayloadBytes;
  const asyncLimit = LIMITS.asyncPayloadBytes;

  const fail = (
    res: ServerResponse,
    requestId: string,
    err: NimbusError,
    extra?: Record<string, unknown>,
    status = err.status,
  ) => {
    const body = JSON.stringify(errorBody(err, requestId, extra));
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };

  const invoke = async (
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    body: Buffer,
    id: string,
    async: boolean,
    qualifier: string | undefined,
    context: { trace: string | undefined; clientContext: string | undefined } | undefined,
  ) => {
    const event = body.length > 0 ? body : EMPTY_EVENT;
    const text = event.toString('utf8');
    try {
      JSON.parse(text);
    } catch (err) {
      return fail(
        res,
        id,
        new NimbusError('INVALID_JSON', `the event must be JSON: ${(err as Error).message}`),
      );
    }
    const trigger = req.headers['x-nimbus-trigger'] === 'cli' ? 'cli' : 'api';
    if (async) {
      const queued = await deps.dispatcher.enqueue({
        functionName: name,
        event: text,
        trigger,
        qualifier,
        trace: context?.trace,
      });
      const answer = JSON.stringify({ executionId: queued.id });
      res.writeHead(202, [
        'content-type',
        'application/json',
        'content-length',
        String(Buffer.byteLength(answer)),
        'x-nimbus-execution-id',
        queued.id,
      ]);
      return void res.end(answer);
    }
    const { execution, payload, failure } = await deps.invoker.invoke(name, event, {
      trigger,
      maxResultBytes: syncLimit,
      qualifier,
      trace: context?.trace,
      clientContext: context?.clientContext,
    });
    if (failure) {
      res.setHeader('x-nimbus-execution-id', execution.id);
      res.setHeader(EXECUTED_VERSION, execution.version);
      const { err, status } = httpFailure(failure);
      const extra = {
        type: failure.error.type,
        stack: failure.error.stack,
        executionId: execution.id,
        outcome: execution.outcome,
      };
      return fail(res, id, err, extra, status);
    }
    // A flat header list skips the per-header bookkeeping of setHeader.
    res.writeHead(200, [
      'content-type',
      'application/json',
      'content-length',
      String(payload.length),
      'x-nimbus-execution-id',
      execution.id,
      EXECUTED_VERSION,
      execution.version,
    ]);
    res.end(payload);
  };

  return (req, res) => {
    const name = invokeTarget(req);
    if (name === undefined) return next(req, res);
    const id = newRequestId();
    const denied = apiKeyError(req.headers.authorization, expectedKey);
    if (denied) return refuse(req, res, () => fail(res, id, denied));
    const async = isAsync(req.headers[INVOCATION_TYPE]);
    if (async === undefined) {
      return refuse(req, res, () =>
        fail(
          res,
          id,
          new NimbusError(
            'VALIDATION_FAILED',
            `header ${INVOCATION_TYPE} must be 'sync' (or RequestResponse) or 'async' (or Event)`,
          ),
        ),
      );
    }
    const qualifier = qualifierOf(req.url ?? '');
    if (qualifier instanceof NimbusError) return refuse(req, res, () => fail(res, id, qualifier));
    const context = callContextOf(req);
    if (context instanceof NimbusError) return refuse(req, res, () => fail(res, id, context));
    const limit = async ? asyncLimit : syncLimit;
    const tooLarge = () =>
      fail(
        res,
        id,
        new NimbusError(
          'PAYLOAD_TOO_LARGE',
          async
            ? `request body is over the limit of 1 MB for an asynchronous invocation; invoke synchronously (up to 6 MB) or pass a reference to the data instead`
            : `request body is over the limit of 6 MB for a synchronous invocation`,
        ),
      );
    if (Number(req.headers['content-length'] ?? 0) > limit) return refuse(req, res, tooLarge);
    if (!bodyBudget.admit(req, res, limit)) {
      return refuse(req, res, () => {
        res.setHeader('retry-after', String(RETRY_AFTER_SEC));
        fail(res, id, bodyBudget.refusal());
      });
    }

    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        refuse(req, res, tooLarge);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > limit) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      invoke(req, res, name, body, id, async, qualifier, context).catch((err: unknown) => {
        if (res.headersSent) return;
        if (err instanceof NimbusError) return fail(res, id, err);
        log(err, 'unhandled error in invoke');
        fail(res, id, new NimbusError('INTERNAL', 'internal error; the server log has the details'));
      });
    });
  };
}

/** Answers without reading the body; the connection closes so the unread bytes are dropped. */
function refuse(req: IncomingMessage, res: ServerResponse, answer: () => void): void {
  res.setHeader('connection', 'close');
  answer();
  req.resume();
}
