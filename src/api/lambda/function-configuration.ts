/**
 * The Lambda API's view of Nimbus functions: runtime names, function references (names, ARNs,
 * qualifiers) and FunctionConfiguration in Lambda's shape, with the fields SDK waiters read
 * (State, LastUpdateStatus). Pure mapping: no engine calls.
 */
import { createHash } from 'node:crypto';
import { lambdaFunctionArn, lambdaRoleArn, logGroupName, type ArnScope } from '../../core/arn.js';
import type { FunctionRecord, Runtime } from '../../core/function.js';
import type { FunctionLayer } from '../../core/layer.js';
import { LATEST, type AliasRecord } from '../../core/version.js';
import { invalidParameter } from './lambda-errors.js';

const LAMBDA_RUNTIMES: Record<string, Runtime> = {
  'python3.8': 'python3',
  'python3.9': 'python3',
  'python3.10': 'python3',
  'python3.11': 'python3',
  'python3.12': 'python3',
  'python3.13': 'python3',
  'nodejs18.x': 'nodejs',
  'nodejs20.x': 'nodejs',
  'nodejs22.x': 'nodejs',
};

/** Nimbus's runtime for a Lambda runtime name; InvalidParameterValueException names the supported ones. */
export function nimbusRuntime(lambdaRuntime: string): Runtime {
  const runtime = LAMBDA_RUNTIMES[lambdaRuntime];
  if (!runtime) {
    throw invalidParameter(
      `Value ${lambdaRuntime} at 'runtime' failed to satisfy constraint: Nimbus runs ${Object.keys(LAMBDA_RUNTIMES).join(', ')} (each on the server's own Python 3 or Node.js)`,
    );
  }
  return runtime;
}

/** A function as Lambda calls it: a name and an optional qualifier (version or alias). */
export interface FunctionRef {
  name: string;
  qualifier: string | undefined;
}

const ARN = /^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:([^:]+)(?::([^:]+))?$/;
const PARTIAL_ARN = /^\d{12}:function:([^:]+)(?::([^:]+))?$/;
const NAME_WITH_QUALIFIER = /^([^:]+)(?::([^:]+))?$/;

/**
 * Parses a FunctionName path parameter: a name, `name:qualifier`, a full ARN or a partial one
 * (`123456789012:function:name`). A `Qualifier` query parameter must agree with one in the name.
 */
export function parseFunctionRef(given: string, queryQualifier?: string): FunctionRef {
  const match = ARN.exec(given) ?? PARTIAL_ARN.exec(given) ?? NAME_WITH_QUALIFIER.exec(given);
  if (!match) {
    throw invalidParameter(
      `function name '${given}' is not a name, name:qualifier or arn:aws:lambda:region:account:function:name`,
    );
  }
  const name = match[1]!;
  const qualifier = match[2] ?? (queryQualifier === '' ? undefined : queryQualifier);
  if (match[2] !== undefined && queryQualifier !== undefined && queryQualifier !== match[2]) {
    throw invalidParameter(
      `the qualifier in the function name (${match[2]}) differs from the Qualifier parameter (${queryQualifier})`,
    );
  }
  return { name, qualifier };
}

/**
 * Refuses a qualifier where Lambda takes none (UpdateFunctionCode, UpdateFunctionConfiguration):
 * only `$LATEST` can change, so only it (or no qualifier) is accepted.
 */
export function assertUnqualified(ref: FunctionRef, action: string): void {
  if (ref.qualifier === undefined || ref.qualifier === LATEST) return;
  throw invalidParameter(
    `${action} changes only $LATEST: '${ref.name}:${ref.qualifier}' names a published version or an alias, which cannot change (publish a new version instead)`,
  );
}

/** Lambda's LastModified format: `2026-11-23T16:31:33.123+0000`. */
function lastModified(iso: string): string {
  return iso.replace(/Z$/, '+0000');
}

/** A stable id of one state of a function's code and configuration (or of an alias). */
function revisionId(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\n')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** How a configuration is shown: its runtime name, the qualifier of its ARN, a version's description. */
export interface ConfigurationView {
  /**
   * The Lambda runtime name of what actually runs a function (`python3.11`): the sandbox driver's
   * `runtimeVersion`, as Nimbus keeps no per-function Lambda name.
   */
  runtimeVersion: (runtime: Runtime) => string;
  /** Appended to FunctionArn (`$LATEST`, the version, or the alias it was asked for by). */
  qualifier?: string | undefined;
  /** A published version's own description (Lambda shows it instead of the function's). */
  description?: string | undefined;
  /** The ARN of a layer version the function uses; `Layers` is shown when given. */
  layerArn?: ((layer: FunctionLayer) => string) | undefined;
}

/**
 * FunctionConfiguration as Lambda returns it from GetFunctionConfiguration and friends, of `$LATEST`
 * or of a published version (`fn.version` is its number).
 */
export function functionConfiguration(
  fn: FunctionRecord,
  scope: ArnScope,
  view: ConfigurationView,
): Record<string, unknown> {
  return {
    FunctionName: fn.name,
    FunctionArn: lambdaFunctionArn(scope, fn.name, view.qualifier),
    Runtime: view.runtimeVersion(fn.runtime),
    Role: lambdaRoleArn(scope),
    Handler: fn.handler,
    CodeSize: fn.codeSize,
    Description: view.description ?? fn.description,
    Timeout: fn.timeoutSec,
    MemorySize: fn.memoryMb,
    LastModified: lastModified(fn.updatedAt),
    CodeSha256: Buffer.from(fn.codeSha256, 'hex').toString('base64'),
    Version: fn.version,
    ...(Object.keys(fn.env).length > 0 ? { Environment: { Variables: fn.env } } : {}),
    ...(fn.layers.length > 0 && view.layerArn
      ? { Layers: fn.layers.map((layer) => ({ Arn: view.layerArn!(layer), CodeSize: layer.codeSize })) }
      : {}),
    TracingConfig: { Mode: 'PassThrough' },
    RevisionId: revisionId(fn.name, fn.version, fn.codeSha256, fn.updatedAt),
    State: 'Active',
    LastUpdateStatus: 'Successful',
    PackageType: 'Zip',
    Architectures: ['x86_64'],
    EphemeralStorage: { Size: 512 },
    SnapStart: { ApplyOn: 'None', OptimizationStatus: 'Off' },
    LoggingConfig: { LogFormat: 'Text', LogGroup: logGroupName(fn.name) },
  };
}

/** AliasConfiguration as Lambda returns it from CreateAlias, GetAlias, UpdateAlias and ListAliases. */
export function aliasConfiguration(alias: AliasRecord, scope: ArnScope): Record<string, unknown> {
  return {
    AliasArn: lambdaFunctionArn(scope, alias.functionName, alias.name),
    Name: alias.name,
    FunctionVersion: alias.functionVersion,
    Description: alias.description,
    ...(alias.routing
      ? { RoutingConfig: { AdditionalVersionWeights: { [alias.routing.version]: alias.routing.weight } } }
      : {}),
    RevisionId: revisionId(alias.functionName, alias.name, alias.updatedAt),
  };
}
