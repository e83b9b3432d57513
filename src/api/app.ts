/**
 * Builds the HTTP API (fastify): raw-body parsing, bearer-key auth on every route but health
 * and the OpenAPI document, the one error shape, and the route modules.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { NimbusError } from '../core/errors.js';
import type { ApiDeps } from './deps.js';
import { errorHandler, sendError } from './errors.js';
import { registerExecutionRoutes } from './execution-routes.js';
import { registerFunctionRoutes } from './function-routes.js';
import { openApiDocument } from './openapi.js';

/** How long shutdown waits for running invocations before cutting them off. */
const SHUTDOWN_GRACE_MS = 30_000;

export interface ApiOptions {
  logger: boolean | object;
}

function keyMatches(presented: string, expected: Buffer): boolean {
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function buildApi(deps: ApiDeps, options: ApiOptions): FastifyInstance {
  const app = Fastify({
    logger: options.logger,
    bodyLimit: 1024 * 1024,
    // Shutdown first waits for running invocations (preClose below), then drops every connection:
    // an idle keep-alive socket must not hold the server open for its 72 s timeout.
    forceCloseConnections: true,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => `req-${Math.random().toString(36).slice(2, 12)}`,
  });
  // Bodies stay raw bytes: invoke passes them through untouched, JSON routes parse them in parse.ts.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const expected = Buffer.from(deps.adminKey);
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config?.public) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !keyMatches(match[1]!.trim(), expected)) {
      return sendError(
        reply,
        new NimbusError(
          'UNAUTHORIZED',
          match
            ? 'the API key is wrong; use the admin key from <data-dir>/admin.key or NIMBUS_ADMIN_KEY'
            : 'missing API key: send `Authorization: Bearer <key>` (the admin key is in <data-dir>/admin.key)',
        ),
      );
    }
  });

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
    return { ...deps.isolation, instances, idle };
  });
  app.get('/v1/stats', async () => deps.poolStats());
  registerFunctionRoutes(app, deps);
  registerExecutionRoutes(app, deps);
  return app;
}
