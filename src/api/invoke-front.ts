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
import type { BodyBudget } from './body-budget.js';
import { clientContextOf, isProblem, traceIdOf } from './call-context.js';
import type { ApiDeps } from './deps.js';
import { httpFailure } from './outcome-http.js';
import {
  EXECUTION_ID_HEADER,
  readCappedBody,
  refuse,
  sendError,
  sendInternalError,
  sendJson,
  type FrontLogger,
} from './raw-http.js';

const PREFIX = '/v1/functions/';
const SUFFIX = '/invoke';
const EMPTY_EVENT = Buffer.from('{}');
const INVOCATION_TYPE = 'x-nimbus-invocation-type';
const EXECUTED_VERSION = 'x-nimbus-executed-version';
const syncTooLarge = () =>
  new NimbusError('PAYLOAD_TOO_LARGE', `request body is over the limit of 6 MB for a synchronous invocation`);
const asyncTooLarge = () =>
  new NimbusError(
    'PAYLOAD_TOO_LARGE',
    `request body is over the limit of 1 MB for an asynchronous invocation; invoke synchronously (up to 6 MB) or pass a reference to the data instead`,
  );

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
      return sendError(
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
      return sendJson(res, 202, answer, [EXECUTION_ID_HEADER, queued.id]);
    }
    const { execution, payload, failure } = await deps.invoker.invoke(name, event, {
      trigger,
      maxResultBytes: syncLimit,
      qualifier,
      trace: context?.trace,
      clientContext: context?.clientContext,
    });
    if (failure) {
      const { err, status } = httpFailure(failure);
      return sendError(res, id, err, {
        status,
        headers: [EXECUTION_ID_HEADER, execution.id, EXECUTED_VERSION, execution.version],
        extra: {
          type: failure.error.type,
          stack: failure.error.stack,
          executionId: execution.id,
          outcome: execution.outcome,
        },
      });
    }
    sendJson(res, 200, payload, [EXECUTION_ID_HEADER, execution.id, EXECUTED_VERSION, execution.version]);
  };

  return (req, res) => {
    const name = invokeTarget(req);
    if (name === undefined) return next(req, res);
    const id = newRequestId();
    const denied = apiKeyError(req.headers.authorization, expectedKey);
    if (denied) return refuse(req, res, id, denied);
    const async = isAsync(req.headers[INVOCATION_TYPE]);
    if (async === undefined) {
      return refuse(
        req,
        res,
        id,
        new NimbusError(
          'VALIDATION_FAILED',
          `header ${INVOCATION_TYPE} must be 'sync' (or RequestResponse) or 'async' (or Event)`,
        ),
      );
    }
    const qualifier = qualifierOf(req.url ?? '');
    if (qualifier instanceof NimbusError) return refuse(req, res, id, qualifier);
    const context = callContextOf(req);
    if (context instanceof NimbusError) return refuse(req, res, id, context);
    const cap = async
      ? { limitBytes: asyncLimit, tooLarge: asyncTooLarge, requestId: id }
      : { limitBytes: syncLimit, tooLarge: syncTooLarge, requestId: id };
    readCappedBody(req, res, bodyBudget, cap, (body) => {
      invoke(req, res, name, body, id, async, qualifier, context).catch((err: unknown) => {
        if (res.headersSent) return;
        if (err instanceof NimbusError) return sendError(res, id, err);
        log(err, 'unhandled error in invoke');
        sendInternalError(res, id);
      });
    });
  };
}
