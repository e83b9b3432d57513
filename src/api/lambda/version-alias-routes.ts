/**
 * Lambda's version and alias actions under /2015-03-31/functions/NAME: PublishVersion,
 * ListVersionsByFunction, CreateAlias, ListAliases, GetAlias, UpdateAlias and DeleteAlias, over
 * the VersionService. They take an unqualified function name; an alias routes to one additional
 * version at most, as on Lambda.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LATEST, isVersionNumber, type AliasRecord, type AliasRouting } from '../../core/version.js';
import { servedRecord } from '../../engine/functions/version-service.js';
import type { ApiDeps } from '../deps.js';
import { parseBody } from '../parse.js';
import { configurationShape, versionConfigurationOf } from './configuration-views.js';
import { aliasConfiguration } from './function-configuration.js';
import { callerOf, unqualifiedTarget, type FnRequest } from './lambda-auth.js';
import { invalidParameter } from './lambda-errors.js';
import { createAliasBody, publishVersionBody, updateAliasBody } from './lambda-schemas.js';
import { maxItemsOf, page } from './paging.js';

const FUNCTIONS = '/functions';

/** Lambda's RoutingConfig as Nimbus's routing: one additional version at most, as Lambda allows. */
function routingOf(config: {
  AdditionalVersionWeights?: Record<string, number> | undefined;
}): AliasRouting | null {
  const weights = Object.entries(config.AdditionalVersionWeights ?? {});
  if (weights.length === 0) return null;
  if (weights.length > 1) {
    throw invalidParameter(
      `RoutingConfig.AdditionalVersionWeights names ${weights.length} versions; Lambda (and Nimbus) allow one additional version`,
    );
  }
  const [version, weight] = weights[0]!;
  return { version, weight };
}

/** Adds the version and alias actions to `scope`, a Lambda scope (see lambda-scope.ts) at LAMBDA_API_VERSION. */
export function registerVersionAliasRoutes(scope: FastifyInstance, deps: ApiDeps): void {
  /** NOT_FOUND for versions an alias would point or route to but that were never published. */
  const assertVersionsExist = async (name: string, ...versions: (string | undefined)[]) => {
    for (const version of versions) {
      if (version !== undefined && version !== LATEST && isVersionNumber(version)) {
        await deps.versions.get(name, version);
      }
    }
  };

  const aliasOf = (request: FastifyRequest, alias: AliasRecord) =>
    aliasConfiguration(alias, callerOf(request).scope);

  // PublishVersion
  scope.post(`${FUNCTIONS}/:name/versions`, async (request: FnRequest, reply) => {
    const ref = unqualifiedTarget(request, 'PublishVersion');
    const body = parseBody(
      Buffer.isBuffer(request.body) && request.body.length > 0 ? request.body : {},
      publishVersionBody,
    );
    const { version } = await deps.versions.publish(ref.name, {
      codeSha256: body.CodeSha256,
      description: body.Description,
    });
    return reply
      .code(201)
      .send((await versionConfigurationOf(deps, request, ref.name, version.version)).configuration);
  });

  // ListVersionsByFunction: $LATEST, then the versions oldest first.
  scope.get(`${FUNCTIONS}/:name/versions`, async (request: FnRequest) => {
    const ref = unqualifiedTarget(request, 'ListVersionsByFunction');
    const maxItems = maxItemsOf(request.query.MaxItems, 50);
    const latest = await deps.functions.get(ref.name);
    const arnScope = callerOf(request).scope;
    const all = [
      { key: LATEST, show: () => configurationShape(deps, latest, arnScope, { qualifier: LATEST }) },
      ...(await deps.versions.list(ref.name)).map((v) => ({
        key: v.version,
        show: () =>
          configurationShape(deps, servedRecord(v), arnScope, {
            qualifier: v.version,
            description: v.description,
          }),
      })),
    ];
    const { items, next } = page(all, (item) => item.key, request.query.Marker, maxItems);
    return { Versions: items.map((item) => item.show()), ...(next ? { NextMarker: next } : {}) };
  });

  // CreateAlias
  scope.post(`${FUNCTIONS}/:name/aliases`, async (request: FnRequest, reply) => {
    const ref = unqualifiedTarget(request, 'CreateAlias');
    const body = parseBody(request.body, createAliasBody);
    const routing = body.RoutingConfig === undefined ? null : routingOf(body.RoutingConfig);
    await assertVersionsExist(ref.name, body.FunctionVersion, routing?.version);
    const alias = await deps.versions.createAlias(ref.name, {
      name: body.Name,
      functionVersion: body.FunctionVersion,
      description: body.Description,
      routing,
    });
    return reply.code(201).send(aliasOf(request, alias));
  });

  // ListAliases (optionally of one FunctionVersion)
  scope.get(`${FUNCTIONS}/:name/aliases`, async (request: FnRequest) => {
    const ref = unqualifiedTarget(request, 'ListAliases');
    const maxItems = maxItemsOf(request.query.MaxItems, 50);
    const version = request.query.FunctionVersion;
    const aliases = (await deps.versions.listAliases(ref.name)).filter(
      (a) => version === undefined || a.functionVersion === version,
    );
    const { items, next } = page(aliases, (a) => a.name, request.query.Marker, maxItems);
    return { Aliases: items.map((a) => aliasOf(request, a)), ...(next ? { NextMarker: next } : {}) };
  });

  // GetAlias
  scope.get(`${FUNCTIONS}/:name/aliases/:alias`, async (request: FnRequest) => {
    const ref = unqualifiedTarget(request, 'GetAlias');
    return aliasOf(request, await deps.versions.getAlias(ref.name, request.params.alias!));
  });

  // UpdateAlias: fields left out keep their values; an empty AdditionalVersionWeights removes routing.
  scope.put(`${FUNCTIONS}/:name/aliases/:alias`, async (request: FnRequest) => {
    const ref = unqualifiedTarget(request, 'UpdateAlias');
    const body = parseBody(request.body, updateAliasBody);
    const routing = body.RoutingConfig === undefined ? undefined : routingOf(body.RoutingConfig);
    await assertVersionsExist(ref.name, body.FunctionVersion, routing?.version);
    const alias = await deps.versions.updateAlias(ref.name, request.params.alias!, {
      functionVersion: body.FunctionVersion,
      description: body.Description,
      routing,
    });
    return aliasOf(request, alias);
  });

  // DeleteAlias
  scope.delete(`${FUNCTIONS}/:name/aliases/:alias`, async (request: FnRequest, reply) => {
    const ref = unqualifiedTarget(request, 'DeleteAlias');
    await deps.versions.deleteAlias(ref.name, request.params.alias!);
    return reply.code(204).send();
  });
}
