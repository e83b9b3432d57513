/**
 * The Lambda-compatible API under /2015-03-31/functions: a fastify plugin whose routes answer in
 * Lambda's shapes, so the AWS CLI and SDKs work against Nimbus with `--endpoint-url`. Every route
 * but the Runtime Interface Emulator's needs a SigV4 signature by a Nimbus access key, and the key
 * must allow the action. Thin: parse, check, call the engine (FunctionService, Invoker,
 * AsyncDispatcher), shape the answer; Lambda exceptions come from lambda-errors.ts only.
 * Versions and aliases (PublishVersion, ListVersionsByFunction, the alias actions) are served
 * through the VersionService; a qualifier (the `Qualifier` parameter, `name:qualifier` or an ARN's
 * suffix) selects `$LATEST`, a version or an alias on GetFunction, GetFunctionConfiguration,
 * Invoke and DeleteFunction.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { lambdaFunctionArn, type ArnScope } from '../../core/arn.js';
import { keyAllows, type AccessAction, type AccessKeyRecord } from '../../core/access-key.js';
import { NimbusError } from '../../core/errors.js';
import { isClientAbort } from '../errors.js';
import { LIMITS, type FunctionRecord } from '../../core/function.js';
import {
  LATEST,
  isVersionNumber,
  parseQualifier,
  type AliasRecord,
  type AliasRouting,
} from '../../core/version.js';
import { servedRecord } from '../../engine/version-service.js';
import type { FunctionConfigInput } from '../../engine/function-service.js';
import type { ApiDeps } from '../deps.js';
import { parseBody } from '../parse.js';
import {
  aliasConfiguration,
  assertUnqualified,
  functionConfiguration as configurationShape,
  nimbusRuntime,
  parseFunctionRef,
  type ConfigurationView,
  type FunctionRef,
} from './function-configuration.js';
import { codeLocationQuery, verifyCodeLocation } from './code-location.js';
import { invokeFunction } from './lambda-invoke.js';
import { invokeWithResponseStream } from './lambda-invoke-stream.js';

/** The Runtime Interface Emulator's route, below `/functions` (its one function is called `function`). */
const RIE_PATH = '/function/invocations';
import {
  LambdaApiError,
  accessDenied,
  invalidParameter,
  resourceNotFound,
  sendLambdaError,
  toLambdaError,
} from './lambda-errors.js';
import {
  createAliasBody,
  createFunctionBody,
  publishVersionBody,
  updateAliasBody,
  updateCodeBody,
  updateConfigurationBody,
} from './lambda-schemas.js';
import { LAMBDA_API_VERSION, LAMBDA_STREAM_API_VERSION } from '../platform-paths.js';
import { checkCredential, verifySignature, type SignatureCheck } from './sigv4.js';

/** Lambda's API versions: the plugins' prefixes, so routes below are relative to them. */
const API_VERSION = LAMBDA_API_VERSION;
const STREAM_API_VERSION = LAMBDA_STREAM_API_VERSION;
const FUNCTIONS = '/functions';
const MB = 1024 * 1024;

/**
 * Who signed a request, and the server's region and account (for ARNs). Requests must be signed
 * for the server's region (`--region`), as Lambda's endpoint in a region accepts only that region.
 */
export interface LambdaCaller {
  key: AccessKeyRecord;
  scope: ArnScope;
}

const callers = new WeakMap<FastifyRequest, LambdaCaller>();

/** The verified caller of a signed request (set by the plugin's preHandler hook). */
export function callerOf(request: FastifyRequest): LambdaCaller {
  const caller = callers.get(request);
  if (!caller) throw new LambdaApiError('ServiceException', 500, 'the request was not authenticated');
  return caller;
}

/** What a Lambda API signature must match: service `lambda`, the server's region, a Nimbus access key. */
function signatureCheck(deps: ApiDeps, found?: (key: AccessKeyRecord | undefined) => void): SignatureCheck {
  return {
    service: 'lambda',
    region: deps.arnScope.region,
    secretOf: async (id) => {
      const key = await deps.accessKeys.find(id);
      found?.(key);
      return key?.secret;
    },
  };
}

/**
 * The checks the headers allow (credential shape, region, date, key id, a signed payload), before
 * a body byte is read: an unauthenticated upload is refused without being buffered.
 */
export async function precheckSignature(request: FastifyRequest, deps: ApiDeps): Promise<void> {
  await checkCredential(request.raw.rawHeaders, signatureCheck(deps));
}

/** Verifies the request's SigV4 signature and remembers who signed it. */
export async function authenticate(request: FastifyRequest, deps: ApiDeps): Promise<LambdaCaller> {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  let key: AccessKeyRecord | undefined;
  await verifySignature(
    { method: request.method, url: request.raw.url ?? '/', rawHeaders: request.raw.rawHeaders, body },
    signatureCheck(deps, (found) => (key = found)),
  );
  const caller = { key: key!, scope: deps.arnScope };
  callers.set(request, caller);
  return caller;
}

const ACTION_NAMES: Record<string, string> = {
  invoke: 'lambda:InvokeFunction',
  manage: 'lambda:*',
};

/** AccessDeniedException unless the caller's key allows `action` on the function. */
export function authorize(caller: LambdaCaller, action: AccessAction, name?: string): void {
  if (keyAllows(caller.key, action, name)) return;
  const resource = name === undefined ? '*' : lambdaFunctionArn(caller.scope, name);
  throw accessDenied(
    `User: ${caller.key.id} is not authorized to perform: ${ACTION_NAMES[action]} on resource: ${resource} (the key allows ${caller.key.allow?.join(', ')})`,
  );
}

type FnRequest = FastifyRequest<{
  Params: { name: string; alias?: string };
  Querystring: Record<string, string | undefined>;
}>;

/** The function (and qualifier) a request names, checked against the caller's key. */
function target(request: FnRequest, action: AccessAction): FunctionRef {
  const ref = parseFunctionRef(request.params.name, request.query.Qualifier);
  authorize(callerOf(request), action, ref.name);
  return ref;
}

/** A function named without a qualifier, as the version and alias actions take it. */
function unqualifiedTarget(request: FnRequest, action: string): FunctionRef {
  const ref = target(request, 'manage');
  if (ref.qualifier !== undefined) {
    throw invalidParameter(
      `${action} takes an unqualified function name, not '${ref.name}:${ref.qualifier}'`,
    );
  }
  return ref;
}

/** Lambda's MaxItems: 1 to 10000, `fallback` when absent. */
export function maxItemsOf(value: string | undefined, fallback: number): number {
  const maxItems = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > 10_000) {
    throw invalidParameter('MaxItems must be a whole number from 1 to 10000');
  }
  return maxItems;
}

/** One page of `items` after the opaque `marker` (the key of the previous page's last item). */
export function page<T>(
  items: T[],
  keyOf: (item: T) => string,
  marker: string | undefined,
  maxItems: number,
): { items: T[]; next?: string } {
  let start = 0;
  if (marker !== undefined) {
    const after = Buffer.from(marker, 'base64url').toString('utf8');
    start = items.findIndex((item) => keyOf(item) === after) + 1;
    if (start === 0) throw invalidParameter('Marker is not one this listing gave (or its item was deleted)');
  }
  const slice = items.slice(start, start + maxItems);
  const more = start + maxItems < items.length;
  return more
    ? { items: slice, next: Buffer.from(keyOf(slice[slice.length - 1]!)).toString('base64url') }
    : { items: slice };
}

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

function zipOf(zipFile: string | undefined, other: unknown): Buffer {
  if (zipFile === undefined) {
    throw invalidParameter(
      other === undefined
        ? 'Code.ZipFile is required: Nimbus takes code as a base64 zip (S3 locations and images are not supported)'
        : 'Nimbus takes code only as ZipFile (a base64 zip); S3 locations and container images are not supported',
    );
  }
  const zip = Buffer.from(zipFile, 'base64');
  if (zip.length === 0) throw invalidParameter('ZipFile is not valid base64 zip data');
  return zip;
}

function configInput(body: {
  Handler?: string | undefined;
  Description?: string | undefined;
  Timeout?: number | undefined;
  MemorySize?: number | undefined;
  Environment?: { Variables?: Record<string, string> | undefined } | undefined;
  Layers?: string[] | undefined;
}): FunctionConfigInput {
  const input: FunctionConfigInput = {};
  if (body.Handler !== undefined) input.handler = body.Handler;
  if (body.Description !== undefined) input.description = body.Description;
  if (body.Timeout !== undefined) input.timeoutSec = body.Timeout;
  if (body.MemorySize !== undefined) input.memoryMb = body.MemorySize;
  if (body.Environment !== undefined) input.env = body.Environment.Variables ?? {};
  if (body.Layers !== undefined) input.layers = body.Layers;
  return input;
}

/**
 * What every Lambda API scope shares: SigV4 instead of the admin bearer key (app.ts skips these
 * prefixes), and Lambda's error shape. What the headers alone can prove is checked in onRequest,
 * before the body is read (a refused request's connection closes, so its body is never taken in);
 * the signature itself, which covers the body, in preHandler once the body has been read.
 */
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

export function registerLambdaRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // InvokeWithResponseStream, with Invoke's checks and grants.
  void app.register(
    async (scope) => {
      lambdaScope(scope, deps);
      const options = { bodyLimit: LIMITS.syncPayloadBytes + MB, config: { bodyLimitText: '6 MB' } };
      scope.post(
        `${FUNCTIONS}/:name/response-streaming-invocations`,
        options,
        async (request: FnRequest, reply) => {
          const ref = target(request, 'invoke');
          return invokeWithResponseStream(deps, request, reply, ref.name, ref.qualifier);
        },
      );
    },
    { prefix: STREAM_API_VERSION },
  );
  void app.register(
    async (scope) => {
      lambdaScope(scope, deps);

      /** FunctionConfiguration, with the ARNs of the function's layers. */
      const functionConfiguration = (fn: FunctionRecord, scope: ArnScope, view: ConfigurationView = {}) =>
        configurationShape(fn, scope, {
          ...view,
          layerArn: (layer) => deps.layers.versionArn(layer.layerName, layer.version),
        });

      const configurationOf = (request: FastifyRequest, fn: FunctionRecord) =>
        functionConfiguration(fn, callerOf(request).scope);

      /** A published version's configuration, its FunctionArn qualified by `qualifier` (the number by default). */
      const versionConfigurationOf = async (
        request: FastifyRequest,
        name: string,
        version: string,
        qualifier: string = version,
      ) => {
        const record = await deps.versions.get(name, version);
        return {
          fn: servedRecord(record),
          configuration: functionConfiguration(servedRecord(record), callerOf(request).scope, {
            qualifier,
            description: record.description,
          }),
        };
      };

      /**
       * What a qualified name shows: `$LATEST`, a version, or the version an alias points at (its
       * main version: routing weights choose only between invocations).
       */
      const qualifiedConfiguration = async (
        request: FastifyRequest,
        ref: FunctionRef,
      ): Promise<{ fn: FunctionRecord; configuration: Record<string, unknown> }> => {
        const q = ref.qualifier === undefined ? undefined : parseQualifier(ref.qualifier);
        if (q === undefined || q.kind === 'latest') {
          const fn = await deps.functions.get(ref.name);
          return {
            fn,
            configuration: functionConfiguration(fn, callerOf(request).scope, { qualifier: ref.qualifier }),
          };
        }
        if (q.kind === 'version') return versionConfigurationOf(request, ref.name, q.version);
        const alias = await deps.versions.getAlias(ref.name, q.alias);
        if (alias.functionVersion === LATEST) {
          const fn = await deps.functions.get(ref.name);
          return {
            fn,
            configuration: functionConfiguration(fn, callerOf(request).scope, { qualifier: alias.name }),
          };
        }
        return versionConfigurationOf(request, ref.name, alias.functionVersion, alias.name);
      };

      /** The published version `Publish: true` asks for, as its configuration. */
      const publishNow = async (request: FastifyRequest, name: string) => {
        const { version } = await deps.versions.publish(name);
        return (await versionConfigurationOf(request, name, version.version)).configuration;
      };

      /** NOT_FOUND for versions an alias would point or route to but that were never published. */
      const assertVersionsExist = async (name: string, ...versions: (string | undefined)[]) => {
        for (const version of versions) {
          if (version !== undefined && version !== LATEST && isVersionNumber(version)) {
            await deps.versions.get(name, version);
          }
        }
      };

      // CreateFunction
      const create = async (request: FastifyRequest, reply: FastifyReply) => {
        const body = parseBody(request.body, createFunctionBody);
        const ref = parseFunctionRef(body.FunctionName);
        authorize(callerOf(request), 'manage', ref.name);
        if (ref.qualifier !== undefined) throw invalidParameter('FunctionName must not carry a qualifier');
        if (body.PackageType !== undefined && body.PackageType !== 'Zip') {
          throw invalidParameter(
            `PackageType ${body.PackageType} is not supported; Nimbus runs Zip packages`,
          );
        }
        if (body.Architectures?.some((a) => a !== 'x86_64')) {
          throw invalidParameter('Architectures: Nimbus runs functions on x86_64 only');
        }
        if (body.Runtime === undefined) throw invalidParameter('Runtime is required for a Zip package');
        if (body.Handler === undefined) throw invalidParameter('Handler is required for a Zip package');
        const runtime = nimbusRuntime(body.Runtime);
        const zip = zipOf(body.Code.ZipFile, body.Code.S3Bucket ?? body.Code.ImageUri);
        const fn = await deps.functions.create({
          timeoutSec: 3, // Lambda's default, not Nimbus's
          ...configInput(body),
          name: ref.name,
          runtime,
          handler: body.Handler,
          zip,
        });
        if (body.Publish) return reply.code(201).send(await publishNow(request, fn.name));
        return reply.code(201).send(configurationOf(request, fn));
      };
      const createOptions = {
        bodyLimit: Math.ceil((LIMITS.zippedBytes * 4) / 3) + MB,
        config: { bodyLimitText: '50 MB of zipped code' },
      };
      scope.post(FUNCTIONS, createOptions, create);
      scope.post(`${FUNCTIONS}/`, createOptions, create);

      // ListFunctions: by name, paged with an opaque marker (the last name of the previous page).
      const list = async (request: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) => {
        const caller = callerOf(request);
        const maxItems = maxItemsOf(request.query.MaxItems, 50);
        const after =
          request.query.Marker === undefined
            ? undefined
            : Buffer.from(request.query.Marker, 'base64url').toString('utf8');
        // A key sees the functions it may manage.
        const visible = (await deps.functions.list()).filter(
          (fn) => keyAllows(caller.key, 'manage', fn.name) && (after === undefined || fn.name > after),
        );
        const page = visible.slice(0, maxItems);
        const more = visible.length > maxItems;
        return {
          Functions: page.map((fn) => configurationOf(request, fn)),
          ...(more ? { NextMarker: Buffer.from(page[page.length - 1]!.name).toString('base64url') } : {}),
        };
      };
      scope.get(FUNCTIONS, list);
      scope.get(`${FUNCTIONS}/`, list);

      // GetFunction
      scope.get(`${FUNCTIONS}/:name`, async (request: FnRequest) => {
        const ref = target(request, 'manage');
        const { fn, configuration } = await qualifiedConfiguration(request, ref);
        const origin = `${request.protocol}://${request.headers.host ?? request.host}`;
        const query = codeLocationQuery(deps.adminKey, fn.name, fn.codeSha256);
        return {
          Configuration: configuration,
          Code: {
            RepositoryType: 'S3',
            Location: `${origin}${API_VERSION}${FUNCTIONS}/${encodeURIComponent(fn.name)}/code?${query}`,
          },
        };
      });

      // Code.Location of GetFunction: a link that needs no signature for 10 minutes (like S3's).
      scope.get(
        `${FUNCTIONS}/:name/code`,
        { config: { unsigned: true } },
        async (request: FnRequest, reply) => {
          const name = request.params.name;
          const sha256 = verifyCodeLocation(deps.adminKey, name, request.query);
          // $LATEST's code, or a published version's (which never changes while the version exists).
          const latest = await deps.functions.get(name);
          if (
            latest.codeSha256 !== sha256 &&
            !(await deps.versions.list(name)).some((v) => v.codeSha256 === sha256)
          ) {
            throw resourceNotFound('the function has other code now; call GetFunction for a new link');
          }
          const code = await deps.functions.code(name, sha256);
          return reply.type('application/zip').send(code.zip);
        },
      );

      // GetFunctionConfiguration
      scope.get(`${FUNCTIONS}/:name/configuration`, async (request: FnRequest) => {
        const ref = target(request, 'manage');
        return (await qualifiedConfiguration(request, ref)).configuration;
      });

      // UpdateFunctionConfiguration
      scope.put(`${FUNCTIONS}/:name/configuration`, async (request: FnRequest) => {
        const ref = target(request, 'manage');
        assertUnqualified(ref, 'UpdateFunctionConfiguration');
        const body = parseBody(request.body, updateConfigurationBody);
        const patch = configInput(body);
        if (body.Runtime !== undefined) patch.runtime = nimbusRuntime(body.Runtime);
        return configurationOf(request, await deps.functions.updateConfig(ref.name, patch));
      });

      // UpdateFunctionCode
      scope.put(`${FUNCTIONS}/:name/code`, createOptions, async (request: FnRequest) => {
        const ref = target(request, 'manage');
        assertUnqualified(ref, 'UpdateFunctionCode');
        const body = parseBody(request.body, updateCodeBody);
        if (body.Architectures?.some((a) => a !== 'x86_64')) {
          throw invalidParameter('Architectures: Nimbus runs functions on x86_64 only');
        }
        const zip = zipOf(body.ZipFile, body.S3Bucket ?? body.ImageUri);
        if (body.DryRun) return configurationOf(request, await deps.functions.get(ref.name));
        const fn = await deps.functions.updateCode(ref.name, zip);
        if (body.Publish) return publishNow(request, fn.name);
        return configurationOf(request, fn);
      });

      // DeleteFunction
      scope.delete(`${FUNCTIONS}/:name`, async (request: FnRequest, reply) => {
        const ref = target(request, 'manage');
        if (ref.qualifier !== undefined) {
          // A qualifier deletes that version only ($LATEST cannot go alone; an alias is DeleteAlias's).
          if (ref.qualifier === LATEST) {
            throw invalidParameter(
              '$LATEST cannot be deleted on its own: call DeleteFunction without a qualifier',
            );
          }
          if (!isVersionNumber(ref.qualifier)) {
            throw invalidParameter(
              `Qualifier ${ref.qualifier} is not a version number: delete an alias with DeleteAlias`,
            );
          }
          await deps.versions.delete(ref.name, ref.qualifier);
          return reply.code(204).send();
        }
        await deps.functions.delete(ref.name);
        await deps.triggers.deleteAllOf(ref.name);
        // The store removed its versions and aliases with it; drop what was cached of them.
        deps.versions.forget(ref.name);
        return reply.code(204).send();
      });

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
          .send((await versionConfigurationOf(request, ref.name, version.version)).configuration);
      });

      // ListVersionsByFunction: $LATEST, then the versions oldest first.
      scope.get(`${FUNCTIONS}/:name/versions`, async (request: FnRequest) => {
        const ref = unqualifiedTarget(request, 'ListVersionsByFunction');
        const maxItems = maxItemsOf(request.query.MaxItems, 50);
        const latest = await deps.functions.get(ref.name);
        const arnScope = callerOf(request).scope;
        const all = [
          { key: LATEST, show: () => functionConfiguration(latest, arnScope, { qualifier: LATEST }) },
          ...(await deps.versions.list(ref.name)).map((v) => ({
            key: v.version,
            show: () =>
              functionConfiguration(servedRecord(v), arnScope, {
                qualifier: v.version,
                description: v.description,
              }),
          })),
        ];
        const { items, next } = page(all, (item) => item.key, request.query.Marker, maxItems);
        return { Versions: items.map((item) => item.show()), ...(next ? { NextMarker: next } : {}) };
      });

      const aliasOf = (request: FastifyRequest, alias: AliasRecord) =>
        aliasConfiguration(alias, callerOf(request).scope);

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

      // Invoke. The body limit is checked by invokeFunction, which knows the invocation type.
      const invokeOptions = { bodyLimit: LIMITS.syncPayloadBytes + MB, config: { bodyLimitText: '6 MB' } };
      scope.post(`${FUNCTIONS}/:name/invocations`, invokeOptions, async (request: FnRequest, reply) => {
        const ref = target(request, 'invoke');
        return invokeFunction(deps, request, reply, ref.name, ref.qualifier);
      });

      // The Runtime Interface Emulator's route: unsigned, for the function chosen with --rie-function.
      // A signed request to the same path is an ordinary Invoke of a function named "function".
      scope.post(
        `${FUNCTIONS}${RIE_PATH}`,
        { ...invokeOptions, config: { ...invokeOptions.config, unsigned: true, signedWhenAuthorized: true } },
        async (request: FnRequest, reply) => {
          if (request.headers.authorization !== undefined) {
            await authenticate(request, deps);
            const ref = target(request, 'invoke');
            return invokeFunction(deps, request, reply, ref.name, ref.qualifier);
          }
          if (deps.rieFunction === undefined) {
            throw new LambdaApiError(
              'ResourceNotFoundException',
              404,
              'the Runtime Interface Emulator route is off: start the server with --rie-function NAME (or NIMBUS_RIE_FUNCTION=NAME) to serve NAME here without a signature',
            );
          }
          return invokeFunction(deps, request, reply, deps.rieFunction);
        },
      );

      // Lambda actions Nimbus does not serve (yet): permissions, event sources, concurrency, URLs...
      scope.setNotFoundHandler((request, reply) =>
        sendLambdaError(
          reply,
          new LambdaApiError(
            'UnknownOperationException',
            404,
            `Nimbus does not serve ${request.method} ${request.url.split('?')[0]}: it implements CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, Invoke, InvokeWithResponseStream, PublishVersion, ListVersionsByFunction, CreateAlias, GetAlias, UpdateAlias, ListAliases and DeleteAlias`,
          ),
        ),
      );
    },
    { prefix: API_VERSION },
  );
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
