/**
 * The HTTP trigger front door: serves every enabled HTTP trigger at `/fn/<function>/<any path>`
 * and, for triggers with a host name, at any path of requests to that host. Plain node:http ahead
 * of fastify, like the invoke front door (both answer through raw-http.ts). It answers CORS
 * preflights itself, checks the trigger's auth (bearer key or signed URL), reads the body (6 MB
 * cap) and hands the request to its trigger style (http-trigger-styles.ts), which runs it through
 * the Invoker as an `http` execution and answers.
 * Must never pass the trigger key or the admin key to a function, nor log them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NimbusError } from '../core/errors.js';
import type { CorsSettings } from '../core/trigger.js';
import { newRequestId } from './auth.js';
import type { BodyBudget } from './body-budget.js';
import type { ApiDeps } from './deps.js';
import { HTTP_STREAM_LIMITS, serveLambda, serveStreaming } from './http-trigger-styles.js';
import type { HttpRoute, HttpTriggerTable } from './http-trigger-table.js';
import type { TriggerRequest } from './lambda-url-event.js';
import { isPlatformPath } from './platform-paths.js';
import {
  answerUnread,
  readCappedBody,
  refuse,
  sendError,
  sendInternalError,
  type FrontLogger,
} from './raw-http.js';
import { splitSignature, triggerAuthError } from './trigger-auth.js';
import { normalizeTriggerPath } from './trigger-path.js';

const PREFIX = '/fn/';
const tooLarge = () =>
  new NimbusError(
    'PAYLOAD_TOO_LARGE',
    `request body is over the limit of 6 MB for an HTTP trigger; send larger data by reference (a URL)`,
  );

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
    const unexpected = (err: unknown) => {
      log(err, 'unhandled error in an HTTP trigger');
      if (!res.headersSent) sendInternalError(res, newRequestId());
      else res.destroy();
    };
    try {
      serve(deps, bodyBudget, log, target, req, res, unexpected);
    } catch (err) {
      unexpected(err);
    }
  };
}

/**
 * Checks a trigger request (route, CORS preflight, method, auth), reads its body and hands it to
 * its trigger style; `unexpected` gets whatever fails on the way.
 */
function serve(
  deps: ApiDeps,
  bodyBudget: BodyBudget,
  log: FrontLogger,
  target: Target,
  req: IncomingMessage,
  res: ServerResponse,
  unexpected: (err: unknown) => void,
): void {
  const requestId = newRequestId();
  const method = (req.method ?? 'GET').toUpperCase();
  const { route } = target;
  if (!route) {
    return refuse(
      req,
      res,
      requestId,
      new NimbusError(
        'ROUTE_NOT_FOUND',
        `function '${target.functionName}' has no enabled HTTP trigger; add one with \`nimbus triggers create ${target.functionName} --type http\``,
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
    return answerUnread(req, res, () => answerPreflight(req, res, route, cors));
  }
  if (!(config.methods as string[]).includes(method)) {
    const allow = config.methods.join(', ');
    return refuse(
      req,
      res,
      requestId,
      new NimbusError('METHOD_NOT_ALLOWED', `this trigger accepts ${allow}, not ${method}`),
      { headers: ['allow', allow, ...(cors ?? [])] },
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
    if (denied) return refuse(req, res, requestId, denied, { headers: cors ?? [] });
  }

  const extraHeaders = cors ?? [];
  const cap = { limitBytes: HTTP_STREAM_LIMITS.requestBytes, tooLarge, requestId, headers: extraHeaders };
  readCappedBody(
    req,
    res,
    bodyBudget,
    cap,
    (body) => {
      let request: TriggerRequest;
      try {
        request = triggerRequest(req, target, route, method, query, body, requestId);
      } catch (err) {
        return unexpected(err);
      }
      const served =
        config.style === 'lambda'
          ? serveLambda(deps, request, res, extraHeaders)
          : serveStreaming(deps, log, config.style, request, target.scriptName, res, extraHeaders);
      served.catch(unexpected);
    },
    unexpected,
  );
}

/** The request as the trigger styles see it: its headers without any credentials. */
function triggerRequest(
  req: IncomingMessage,
  target: Target,
  route: HttpRoute,
  method: string,
  query: string,
  body: Buffer,
  requestId: string,
): TriggerRequest {
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
  return {
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
    qualifier: route.config.qualifier ?? undefined,
    requestId,
  };
}

function portOf(host: string | undefined): number | undefined {
  const m = /:(\d+)$/.exec(host ?? '');
  return m ? Number(m[1]) : undefined;
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
