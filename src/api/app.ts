/**
 * Builds the HTTP API (fastify): raw-body parsing, bearer-key auth on every route but health
 * and the OpenAPI document, the one error shape, and the route modules; and the one BodyBudget
 * that every door (fastify, invoke, HTTP triggers) reads large bodies through.
 */
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { NimbusError } from '../core/errors.js';
import { apiKeyError, newRequestId } from './auth.js';
import { BodyBudget, RETRY_AFTER_SEC } from './body-budget.js';
import { isClientAbort } from './errors.js';
import type { ApiDeps } from './deps.js';
import { registerAccessKeyRoutes } from './access-key-routes.js';
import { registerDeadLetterRoutes } from './dead-letter-routes.js';
import { errorHandler, sendError } from './errors.js';
import { registerExecutionRoutes } from './execution-routes.js';
import { registerFunctionRoutes } from './function-routes.js';
import { registerLayerRoutes } from './layer-routes.js';
import { registerTriggerRoutes } from './trigger-routes.js';
import { registerVersionRoutes } from './version-routes.js';
import { httpTriggerFront } from './http-trigger-front.js';
import { HttpTriggerTable } from './http-trigger-table.js';
import { invokeFront } from './invoke-front.js';
import { registerLambdaLayerRoutes } from './lambda/layer-routes.js';
import { registerLambdaRoutes } from './lambda/lambda-routes.js';
import { isLambdaApiUrl, LAMBDA_LAYERS_PREFIX } from './platform-paths.js';
import { openApiDocument } from './openapi.js';

/** How long shutdown waits for running invocations before cutting them off. */
const SHUTDOWN_GRACE_MS = 30_000;

type ApiOptions = { logger: boolean | object } | { loggerInstance: FastifyBaseLogger };

/** A certificate and its key (PEM): the server then speaks HTTPS only. */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export function buildApi(deps: ApiDeps, options: ApiOptions, tls?: TlsFiles): FastifyInstance {
  const httpTriggers = new HttpTriggerTable(deps.triggers);
  const bodyBudget = new BodyBudget(deps.maxInflightBodyBytes);
  // A client that went away mid-request is not a server error: debug, without a stack.
  const frontLog = (err: unknown, message: string) =>
    isClientAbort(err)
      ? app.log.debug({ reason: (err as Error).message }, `client went away: ${message}`)
      : app.log.error({ err }, message);
  const app: FastifyInstance = Fastify({
    // HTTP trigger requests (/fn/..., trigger host names) and invoke calls are answered by front
    // doors before fastify sees them (http-trigger-front.ts, invoke-front.ts).
    serverFactory: (handler) => {
      const listener = httpTriggerFront(
        deps,
        httpTriggers,
        bodyBudget,
        frontLog,
        invokeFront(deps, bodyBudget, frontLog, handler),
      );
      return tls ? createTlsServer({ cert: tls.cert, key: tls.key }, listener) : createServer(listener);
    },
    ...options,
    bodyLimit: 1024 * 1024,
    // Shutdown first waits for running invocations (preClose below), then drops every connection:
    // an idle keep-alive socket must not hold the server open for its 72 s timeout.
    forceCloseConnections: true,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: newRequestId,
  });
  // Bodies stay raw bytes: invoke passes them through untouched, JSON routes parse them in parse.ts.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const expected = Buffer.from(deps.adminKey);
  app.addHook('onRequest', async (request, reply) => {
    // The Lambda API (its routes and its 404s) signs with SigV4 instead; see lambda/lambda-scope.ts.
    if (
      request.routeOptions.config?.public ||
      isLambdaApiUrl(request.url) ||
      request.url.startsWith(LAMBDA_LAYERS_PREFIX)
    )
      return;
    const denied = apiKeyError(request.headers.authorization, expected);
    if (denied) return sendError(reply.header('connection', 'close'), denied);
  });
  // After every credential check (onRequest hooks, the Lambda API's too) and before the body is read.
  app.addHook('preParsing', (request, reply, payload, done) => {
    if (bodyBudget.admit(request.raw, reply.raw, request.routeOptions.bodyLimit ?? 1024 * 1024)) {
      return done(null, payload);
    }
    reply.header('retry-after', String(RETRY_AFTER_SEC)).header('connection', 'close');
    done(bodyBudget.refusal());
  });

  app.addHook('onReady', async () => httpTriggers.load());
  app.addHook('onClose', async () => httpTriggers.close());

  app.addHook('preClose', async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      deps.invoker.drained(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS))),
    ]);
    clearTimeout(timer);
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      new NimbusError(
        'ROUTE_NOT_FOUND',
        `no route ${request.method} ${request.url.split('?')[0]}; see /v1/openapi.json`,
      ),
    ),
  );

  app.get('/v1/health', { config: { public: true } }, async () => ({ status: 'ok', version: deps.version }));
  app.get('/v1/openapi.json', { config: { public: true } }, async () => openApiDocument(deps.version));
  app.get('/v1/doctor', async () => {
    const { instances, idle } = deps.poolStats();
    return { ...deps.isolation, instances, idle, dataDir: deps.dataDirUsage?.() };
  });
  app.get('/v1/stats', async () => deps.poolStats());
  registerFunctionRoutes(app, deps);
  registerExecutionRoutes(app, deps);
  registerTriggerRoutes(app, deps);
  registerDeadLetterRoutes(app, deps);
  registerVersionRoutes(app, deps);
  registerAccessKeyRoutes(app, deps);
  registerLayerRoutes(app, deps);
  registerLambdaRoutes(app, deps);
  registerLambdaLayerRoutes(app, deps);
  return app;
}
