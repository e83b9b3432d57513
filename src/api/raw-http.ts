/**
 * What the two plain node:http front doors (invoke-front.ts, http-trigger-front.ts) share: the
 * error answer in the API's one error shape (errors.ts), refusing a request without reading its
 * body (the connection then closes, so the unread bytes are dropped), JSON answers, the
 * size-capped body reader (declared length, then the server-wide BodyBudget, then the bytes as
 * they come: 413 or 503 with Retry-After, answered here) and the header helpers. The fastify
 * routes keep their own plumbing (errors.ts). Kept free of per-request allocations beyond the
 * answer itself: the invoke door is the warm-call hot path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NimbusError } from '../core/errors.js';
import { RETRY_AFTER_SEC, type BodyBudget } from './body-budget.js';
import { errorBody } from './errors.js';

/** Logs failures the engine did not expect (the fastify instance's logger). */
export type FrontLogger = (err: unknown, message: string) => void;

/** The execution that served a call, on every answer that has one. */
export const EXECUTION_ID_HEADER = 'x-nimbus-execution-id';

const JSON_TYPE = 'application/json';
const ERROR_TYPE = 'application/json; charset=utf-8';
const NO_HEADERS: readonly string[] = [];

/** Options of an error answer: a status other than the error's own, headers (flat name/value list), body fields. */
export interface ErrorAnswer {
  status?: number;
  headers?: readonly string[];
  extra?: Record<string, unknown>;
}

/** Answers with `err` in the API's error shape, its request id in the body. */
export function sendError(
  res: ServerResponse,
  requestId: string,
  err: NimbusError,
  { status = err.status, headers = NO_HEADERS, extra }: ErrorAnswer = {},
): void {
  const body = JSON.stringify(errorBody(err, requestId, extra));
  res.writeHead(status, [
    ...headers,
    'content-type',
    ERROR_TYPE,
    'content-length',
    String(Buffer.byteLength(body)),
  ]);
  res.end(body);
}

/** The answer to a failure nobody expected (it has been logged): 500 without details. */
export function sendInternalError(res: ServerResponse, requestId: string): void {
  sendError(res, requestId, new NimbusError('INTERNAL', 'internal error; the server log has the details'));
}

/**
 * Answers with a JSON body (already serialized) and `headers` after its content type and length.
 * A flat header list skips the per-header bookkeeping of setHeader.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  json: string | Buffer,
  headers: readonly string[],
): void {
  const length = typeof json === 'string' ? Buffer.byteLength(json) : json.length;
  res.writeHead(status, ['content-type', JSON_TYPE, 'content-length', String(length), ...headers]);
  res.end(json);
}

/** Answers (with `answer`) without reading the body; the connection closes so the unread bytes are dropped. */
export function answerUnread(req: IncomingMessage, res: ServerResponse, answer: () => void): void {
  res.setHeader('connection', 'close');
  answer();
  req.resume();
}

/** Refuses a request with `err` without reading its body (see answerUnread). */
export function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  err: NimbusError,
  answer?: ErrorAnswer,
): void {
  answerUnread(req, res, () => sendError(res, requestId, err, answer));
}

/** How much of a body a door reads, and what it says past that. */
export interface BodyCap {
  limitBytes: number;
  /** The 413 error, made only when it is needed; its message says what to do instead. */
  tooLarge: () => NimbusError;
  requestId: string;
  /** Headers of the refusals (e.g. CORS), a flat name/value list. */
  headers?: readonly string[];
}

/**
 * Reads the request's body within `cap`: a declared length over the limit is refused (413) before
 * any byte is read, a large body the BodyBudget cannot take now is refused (503, Retry-After), and
 * a body that grows past the limit as it comes is cut off and refused (413). Otherwise `onBody`
 * gets the whole body; `onError` gets an error of the request stream while the body is read (the
 * client went away), which is left unreported when it is not given.
 */
export function readCappedBody(
  req: IncomingMessage,
  res: ServerResponse,
  budget: BodyBudget,
  cap: BodyCap,
  onBody: (body: Buffer) => void,
  onError?: (err: Error) => void,
): void {
  const limit = cap.limitBytes;
  const tooLarge = () => refuse(req, res, cap.requestId, cap.tooLarge(), { headers: cap.headers });
  if (Number(req.headers['content-length'] ?? 0) > limit) return tooLarge();
  if (!budget.admit(req, res, limit)) {
    const headers = [...(cap.headers ?? NO_HEADERS), 'retry-after', String(RETRY_AFTER_SEC)];
    return refuse(req, res, cap.requestId, budget.refusal(), { headers });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // Set once the body has been answered or handed on: later stream events are not this reader's.
  let settled = false;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      settled = true;
      req.removeListener('data', onData);
      return tooLarge();
    }
    chunks.push(chunk);
  };
  req.on('data', onData);
  req.on('end', () => {
    if (settled) return;
    settled = true;
    onBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  });
  if (onError) {
    req.on('error', (err) => {
      if (settled) return;
      settled = true;
      onError(err);
    });
  }
}

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

/** Whether a (lower-case) header is connection-level, which a function may not set. */
export function isHopByHop(lowerCaseName: string): boolean {
  return HOP_BY_HOP.has(lowerCaseName);
}

/** A flat header list without connection-level headers and any content-length (the server sets it). */
export function withoutHopByHop(flat: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || name === 'content-length') continue;
    out.push(flat[i]!, flat[i + 1]!);
  }
  return out;
}

/** Calls `gone` when the client closes the connection before the whole response was written. */
export function onClientGone(res: ServerResponse, gone: () => void): void {
  res.on('close', () => {
    if (!res.writableFinished) gone();
  });
}
