/**
 * FunctionConfiguration as the function and version routes show it, with what only the services
 * know filled in: the runtime version the sandbox driver runs, the ARNs of the function's layers,
 * a published version's record, and what a qualifier (`$LATEST`, a version or an alias) selects.
 */
import type { FastifyRequest } from 'fastify';
import type { ArnScope } from '../../core/arn.js';
import type { FunctionRecord } from '../../core/function.js';
import { LATEST, parseQualifier } from '../../core/version.js';
import { servedRecord } from '../../engine/functions/version-service.js';
import type { ApiDeps } from '../deps.js';
import { callerOf } from './lambda-auth.js';
import { functionConfiguration, type ConfigurationView, type FunctionRef } from './function-configuration.js';

/** A configuration shown with the record it shows. */
export interface ShownConfiguration {
  fn: FunctionRecord;
  configuration: Record<string, unknown>;
}

/** FunctionConfiguration of `fn`, with its runtime version and the ARNs of its layers. */
export function configurationShape(
  deps: ApiDeps,
  fn: FunctionRecord,
  scope: ArnScope,
  view: Omit<ConfigurationView, 'runtimeVersion' | 'layerArn'> = {},
): Record<string, unknown> {
  return functionConfiguration(fn, scope, {
    ...view,
    runtimeVersion: deps.runtimeVersion,
    layerArn: (layer) => deps.layers.versionArn(layer.layerName, layer.version),
  });
}

/** `$LATEST`'s configuration as the request's caller sees it (ARNs in the server's scope). */
export function configurationOf(deps: ApiDeps, request: FastifyRequest, fn: FunctionRecord) {
  return configurationShape(deps, fn, callerOf(request).scope);
}

/** A published version's configuration, its FunctionArn qualified by `qualifier` (the number by default). */
export async function versionConfigurationOf(
  deps: ApiDeps,
  request: FastifyRequest,
  name: string,
  version: string,
  qualifier: string = version,
): Promise<ShownConfiguration> {
  const record = await deps.versions.get(name, version);
  return {
    fn: servedRecord(record),
    configuration: configurationShape(deps, servedRecord(record), callerOf(request).scope, {
      qualifier,
      description: record.description,
    }),
  };
}

/**
 * What a qualified name shows: `$LATEST`, a version, or the version an alias points at (its main
 * version: routing weights choose only between invocations).
 */
export async function qualifiedConfiguration(
  deps: ApiDeps,
  request: FastifyRequest,
  ref: FunctionRef,
): Promise<ShownConfiguration> {
  const q = ref.qualifier === undefined ? undefined : parseQualifier(ref.qualifier);
  if (q === undefined || q.kind === 'latest') {
    const fn = await deps.functions.get(ref.name);
    return {
      fn,
      configuration: configurationShape(deps, fn, callerOf(request).scope, { qualifier: ref.qualifier }),
    };
  }
  if (q.kind === 'version') return versionConfigurationOf(deps, request, ref.name, q.version);
  const alias = await deps.versions.getAlias(ref.name, q.alias);
  if (alias.functionVersion === LATEST) {
    const fn = await deps.functions.get(ref.name);
    return {
      fn,
      configuration: configurationShape(deps, fn, callerOf(request).scope, { qualifier: alias.name }),
    };
  }
  return versionConfigurationOf(deps, request, ref.name, alias.functionVersion, alias.name);
}

/** Publishes `$LATEST` as a new version (what `Publish: true` asks for) and shows that version. */
export async function publishNow(
  deps: ApiDeps,
  request: FastifyRequest,
  name: string,
): Promise<Record<string, unknown>> {
  const { version } = await deps.versions.publish(name);
  return (await versionConfigurationOf(deps, request, name, version.version)).configuration;
}
