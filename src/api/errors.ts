/**
 * Maps every failure to the API's one error shape, `{"error": {"code", "message", ...}}`, with
 * the right status. This is the only place domain errors become HTTP.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { NimbusError } from '../core/errors.js';

export function zodToNimbus(err: ZodError, where: string): NimbusError {
  const problems = err.issues.map((i) => `${i.path.length ? i.path.join('.') : where}: ${i.message}`);
  return new NimbusError('VALIDATION_FAILED', `invalid ${where}: ${problems.join('; ')}`, {
    fields: err.issues.map((i) => i.path.join('.')),
  });
}

/** The body of every error answer. */
export function errorBody(
  err: NimbusError,
  requestId: string,
  extra: Record<string, unknown> = {},
): { error: Record<string, unknown> } {
  return { error: { code: err.code, message: err.message, ...(err.details ?? {}), ...extra, requestId } };
}

export function sendError(
  reply: FastifyReply,
  err: NimbusError,
  extra: Record<string, unknown> = {},
): FastifyReply {
  return reply
    .code(err.status)
    .type('application/json')
    .send(errorBody(err, reply.request.id, extra));
}

export function errorHandler(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (error instanceof NimbusError) return sendError(reply, error);
  if (error instanceof ZodError) return sendError(reply, zodToNimbus(error, 'request'));
  const fe = error as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const limit = reply.routeOptions.config?.bodyLimitText ?? `${request.routeOptions.bodyLimit} bytes`;
    return sendError(
      reply,
      new NimbusError('PAYLOAD_TOO_LARGE', `request body is over the limit of ${limit}`),
    );
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return sendError(reply, new NimbusError('UNSUPPORTED_MEDIA_TYPE', fe.message));
  }
  if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) {
    return sendError(reply, new NimbusError('VALIDATION_FAILED', fe.message));
  }
  if (isClientAbort(error)) {
    request.log.debug({ reason: error.message }, 'client went away before the request was answered');
    // Nobody reads this answer; it only ends the request.
    return sendError(
      reply,
      new NimbusError('VALIDATION_FAILED', 'the client closed the connection mid-request'),
    );
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendError(reply, new NimbusError('INTERNAL', 'internal error; the server log has the details'));
}

/** Codes Node and fastify give the errors of a request whose client disconnected. */
const CLIENT_ABORT_CODES = new Set([
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
]);

/** True when an error only says the client went away (closed its connection mid-request or mid-answer). */
export function isClientAbort(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && CLIENT_ABORT_CODES.has(code)) return true;
  return err.message === 'aborted';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Human-readable body limit for 413 messages, e.g. "6 MB". */
    bodyLimitText?: string;
    /** Routes that need no API key. */
    public?: boolean;
  }
}
