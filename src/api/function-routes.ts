/**
 * Routes for functions: create, read, list, update configuration and code, delete, invoke,
 * and a function's logs (with live follow). Thin: parse, call the engine, shape the answer.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { NimbusError } from '../core/errors.js';
import { LIMITS, type FunctionRecord } from '../core/function.js';
import type { LogLine } from '../core/execution.js';
import { renderFunctionLog } from '../engine/executions/report-lines.js';
import type { ApiDeps } from './deps.js';
import { parseBody, parseQuery } from './parse.js';
import { createFunctionBody, functionLogsQuery, updateFunctionBody } from './schemas.js';

const MB = 1024 * 1024;

function functionView(fn: FunctionRecord): Record<string, unknown> {
  return { ...fn };
}

/** Listings show variable names only: values may be secrets. */
function listingView(fn: FunctionRecord): Record<string, unknown> {
  const { env, ...rest } = fn;
  return { ...rest, envKeys: Object.keys(env) };
}

export function registerFunctionRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // Follow streams never end on their own: close them so the server can shut down.
  const followers = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of followers) res.end();
  });

  app.post(
    '/v1/functions',
    // base64 inflates the 50 MB zip limit by a third.
    {
      bodyLimit: Math.ceil((LIMITS.zippedBytes * 4) / 3) + MB,
      config: { bodyLimitText: '50 MB of zipped code' },
    },
    async (request, reply) => {
      const body = parseBody(request.body, createFunctionBody);
      const zip = Buffer.from(body.code.zipBase64, 'base64');
      if (zip.length === 0)
        throw new NimbusError('INVALID_ARCHIVE', 'code.zipBase64 is not valid base64 zip data');
      const fn = await deps.functions.create({ ...body, zip });
      return reply.code(201).send(functionView(fn));
    },
  );

  app.get('/v1/functions', async () => ({ functions: (await deps.functions.list()).map(listingView) }));

  app.get<{ Params: { name: string } }>('/v1/functions/:name', async (request) =>
    functionView(await deps.functions.get(request.params.name)),
  );

  app.patch<{ Params: { name: string } }>('/v1/functions/:name', async (request) => {
    const patch = parseBody(request.body, updateFunctionBody);
    return functionView(await deps.functions.updateConfig(request.params.name, patch));
  });

  app.put<{ Params: { name: string } }>(
    '/v1/functions/:name/code',
    { bodyLimit: LIMITS.zippedBytes, config: { bodyLimitText: '50 MB zipped' } },
    async (request) => {
      const zip = request.body;
      if (!Buffer.isBuffer(zip) || zip.length === 0) {
        throw new NimbusError(
          'INVALID_ARCHIVE',
          'send the zip archive as the request body (content-type: application/zip)',
        );
      }
      return functionView(await deps.functions.updateCode(request.params.name, zip));
    },
  );

  app.delete<{ Params: { name: string } }>('/v1/functions/:name', async (request, reply) => {
    await deps.functions.delete(request.params.name);
    // The store removed its versions and aliases with it; drop what was cached of them.
    deps.versions.forget(request.params.name);
    // A function's triggers go with it (a new function of the same name starts without them).
    await deps.triggers.deleteAllOf(request.params.name);
    return reply.code(204).send();
  });

  // POST /v1/functions/:name/invoke is served by invoke-front.ts, ahead of fastify.

  app.get<{ Params: { name: string }; Querystring: Record<string, string> }>(
    '/v1/functions/:name/logs',
    async (request, reply) => {
      const query = parseQuery(request.query, functionLogsQuery);
      const name = request.params.name;
      const recent = query.tail > 0 ? await recentLogs(deps, name, query.tail) : [];
      if (recent.length === 0) await deps.functions.get(name); // 404 for unknown functions
      const follow = query.follow === 'true' || query.follow === '1';
      if (!follow) return reply.type('application/x-ndjson').send(recent.map(ndjson).join(''));
      return streamLogs(reply, deps, name, recent, followers);
    },
  );
}

/**
 * The newest `tail` lines of a function's log as Lambda's log stream shows it: each call framed by
 * START, END and REPORT (rendered from the execution records, also for calls that printed nothing).
 */
async function recentLogs(deps: ApiDeps, name: string, tail: number): Promise<LogLine[]> {
  const [lines, executions] = await Promise.all([
    deps.executions.functionLogs(name, tail),
    deps.executions.list({ functionName: name, limit: tail }),
  ]);
  const known = new Set(executions.map((e) => e.id));
  for (const id of new Set(lines.map((l) => l.executionId))) {
    if (known.has(id)) continue;
    const execution = await deps.executions.get(id);
    if (execution) executions.push(execution);
  }
  return renderFunctionLog(executions, lines, tail);
}

function ndjson(line: LogLine): string {
  return `${JSON.stringify(line)}\n`;
}

/** Streams the recent lines, then every new one, until the client goes away. */
function streamLogs(
  reply: FastifyReply,
  deps: ApiDeps,
  name: string,
  recent: LogLine[],
  followers: Set<ServerResponse>,
): FastifyReply {
  reply.hijack();
  const res = reply.raw;
  followers.add(res);
  res.writeHead(200, {
    'content-type': 'application/x-ndjson',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
  // Send the headers now: with no recent lines the client would otherwise wait for the first one.
  res.flushHeaders();
  for (const line of recent) res.write(ndjson(line));
  const stop = deps.executions.follow(name, (line) => res.write(ndjson(line)));
  // Keep idle connections (and proxies) from timing out.
  const keepAlive = setInterval(() => res.write('\n'), 15_000);
  res.on('close', () => {
    followers.delete(res);
    stop();
    clearInterval(keepAlive);
  });
  return reply;
}
