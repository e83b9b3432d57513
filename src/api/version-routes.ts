/**
 * Routes for versions and aliases: publish, list, read and delete a function's versions; create,
 * list, read, change and delete its aliases. Thin: parse, call the VersionService, shape the answer.
 */
import type { FastifyInstance } from 'fastify';
import type { AliasRecord, VersionRecord } from '../core/version.js';
import type { ApiDeps } from './deps.js';
import { parseBody } from './parse.js';
import { createAliasBody, publishVersionBody, updateAliasBody } from './schemas.js';

/** A version as the API shows it: what it froze, flat, like a function. */
function versionView(v: VersionRecord): Record<string, unknown> {
  const { description: _fnDescription, ...config } = v.config;
  return {
    functionName: v.functionName,
    version: v.version,
    description: v.description,
    codeSha256: v.codeSha256,
    codeSize: v.codeSize,
    ...config,
    functionDescription: v.config.description,
    createdAt: v.createdAt,
  };
}

/** Listings show variable names only: values may be secrets. */
function versionListingView(v: VersionRecord): Record<string, unknown> {
  const { env: _env, ...rest } = versionView(v);
  return { ...rest, envKeys: Object.keys(v.config.env) };
}

function aliasView(a: AliasRecord): Record<string, unknown> {
  return { ...a };
}

type Params = { name: string };

export function registerVersionRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Params: Params }>('/v1/functions/:name/versions', async (request, reply) => {
    // The body is optional: publishing needs no input.
    const empty = Buffer.isBuffer(request.body) && request.body.length === 0;
    const body = request.body === undefined || empty ? {} : parseBody(request.body, publishVersionBody);
    const { version, created } = await deps.versions.publish(request.params.name, body);
    return reply.code(created ? 201 : 200).send(versionView(version));
  });

  app.get<{ Params: Params }>('/v1/functions/:name/versions', async (request) => ({
    versions: (await deps.versions.list(request.params.name)).map(versionListingView),
  }));

  app.get<{ Params: Params & { version: string } }>(
    '/v1/functions/:name/versions/:version',
    async (request) => versionView(await deps.versions.get(request.params.name, request.params.version)),
  );

  app.delete<{ Params: Params & { version: string } }>(
    '/v1/functions/:name/versions/:version',
    async (request, reply) => {
      await deps.versions.delete(request.params.name, request.params.version);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: Params }>('/v1/functions/:name/aliases', async (request, reply) => {
    const body = parseBody(request.body, createAliasBody);
    return reply.code(201).send(aliasView(await deps.versions.createAlias(request.params.name, body)));
  });

  app.get<{ Params: Params }>('/v1/functions/:name/aliases', async (request) => ({
    aliases: (await deps.versions.listAliases(request.params.name)).map(aliasView),
  }));

  app.get<{ Params: Params & { alias: string } }>('/v1/functions/:name/aliases/:alias', async (request) =>
    aliasView(await deps.versions.getAlias(request.params.name, request.params.alias)),
  );

  app.patch<{ Params: Params & { alias: string } }>('/v1/functions/:name/aliases/:alias', async (request) => {
    const patch = parseBody(request.body, updateAliasBody);
    return aliasView(await deps.versions.updateAlias(request.params.name, request.params.alias, patch));
  });

  app.delete<{ Params: Params & { alias: string } }>(
    '/v1/functions/:name/aliases/:alias',
    async (request, reply) => {
      await deps.versions.deleteAlias(request.params.name, request.params.alias);
      return reply.code(204).send();
    },
  );
}
