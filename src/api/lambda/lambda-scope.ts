/**
 * What every Lambda API scope (functions, streaming invoke, layers) shares: SigV4 instead of the
 * admin bearer key (app.ts skips these prefixes), and Lambda's error shape. What the headers alone
 * can prove is checked in onRequest, before the body is read (a refused request's connection
 * closes, so its body is never taken in); the signature itself, which covers the body, in
 * preHandler once the body has been read. Routes marked `unsigned` in their config skip both.
 */
import type { FastifyInstance } from 'fastify';
import type { ArnScope } from '../../core/arn.js';
import { NimbusError } from '../../core/errors.js';
import type { ApiDeps } from '../deps.js';
import { isClientAbort } from '../errors.js';
import { authenticate, precheckSignature } from './lambda-auth.js';
import { LambdaApiError, sendLambdaError, toLambdaError } from './lambda-errors.js';

/** Adds the signature hooks and Lambda's error handler to a scope of Lambda routes. */
export function lambdaScope(scope: FastifyInstance, deps: ApiDeps): void {
  scope.addHook('onRequest', async (request, reply) => {
    reply.header('x-amzn-requestid', request.id);
    const config = request.routeOptions.config;
    // Unsigned routes check nothing, but the RIE route's signed requests are ordinary Invokes.
    if (config?.unsigned && !(config.signedWhenAuthorized && request.headers.authorization !== undefined))
      return;
    try {
      await precheckSignature(request, deps);
    } catch (err) {
      reply.header('connection', 'close');
      throw err;
    }
  });
  scope.addHook('preHandler', async (request) => {
    if (request.routeOptions.config?.unsigned) return;
    await authenticate(request, deps);
  });
  scope.setErrorHandler((error, request, reply) => {
    const lambda = toLambdaError(error, deps.arnScope) ?? fromFastifyError(error, deps.arnScope);
    if (lambda) return sendLambdaError(reply, lambda);
    if (isClientAbort(error))
      request.log.debug({ reason: (error as Error).message }, 'client went away mid-request');
    else request.log.error({ err: error }, 'unhandled error in the Lambda API');
    return sendLambdaError(
      reply,
      new LambdaApiError(
        'ServiceException',
        500,
        `internal error (request ${request.id}); the server log has the details`,
      ),
    );
  });
}

/** Fastify's own request errors (body too large, bad content) as Lambda exceptions. */
function fromFastifyError(error: unknown, scope: ArnScope): LambdaApiError | undefined {
  const fe = error as { code?: string; statusCode?: number; message?: string };
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new LambdaApiError(
      'RequestTooLargeException',
      413,
      'Request must be smaller than the limit for this operation',
    );
  }
  if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new LambdaApiError('InvalidParameterValueException', 400, fe.message ?? 'invalid request');
  }
  if (error instanceof NimbusError) return toLambdaError(error, scope);
  return undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Lambda routes that check no signature (the Runtime Interface Emulator's). */
    unsigned?: boolean;
    /** An unsigned route that serves a signed request as a signed one when it carries an Authorization header. */
    signedWhenAuthorized?: boolean;
  }
}
