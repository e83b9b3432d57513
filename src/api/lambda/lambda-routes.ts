/**
 * The Lambda-compatible API under /2015-03-31/functions: a fastify plugin whose routes answer in
 * Lambda's shapes, so the AWS CLI and SDKs work against Nimbus with `--endpoint-url`. Every route
 * but the Runtime Interface Emulator's needs a SigV4 signature by a Nimbus access key, and the key
 * must allow the action. Thin: parse, check, call the engine (FunctionService, Invoker,
 * AsyncDispatcher), shape the answer; Lambda exceptions come from lambda-errors.ts only.
 * Versions and aliases (PublishVersion, ListVersionsByFunction, the alias actions) are to be added
 * as routes here, and qualifiers resolved where `target` now calls `assertLatest`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { keyAllows, type AccessAction, type AccessKeyRecord } from '../../core/access-key.js';
import { NimbusError } from '../../core/errors.js';
import { LIMITS, type FunctionRecord } from '../../core/function.js';
import type { FunctionConfigInput } from '../../engine/function-service.js';
import type { ApiDeps } from '../deps.js';
import { parseBody } from '../parse.js';
import {
  assertLatest,
  functionArn,
  functionConfiguration,
  nimbusRuntime,
  parseFunctionRef,
  type FunctionRef,
} from './function-configuration.js';
import { codeLocationQuery, verifyCodeLocation } from './code-location.js';
import { invokeFunction } from './lambda-invoke.js';

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
import { createFunctionBody, updateCodeBody, updateConfigurationBody } from './lambda-schemas.js';
import { verifySignature } from './sigv4.js';

/** Lambda's API version: the plugin's prefix, so routes below are relative to it. */
const API_VERSION = '/2015-03-31';
/** Requests under this path belong to the Lambda API (SigV4, Lambda's error shape). */
export const LAMBDA_API_PREFIX = `${API_VERSION}/`;
const FUNCTIONS = '/functions';
const MB = 1024 * 1024;

/** Who signed a request, and the region it was signed for (used in ARNs). */
export interface LambdaCaller {
  key: AccessKeyRecord;
  region: string;
}

const callers = new WeakMap<FastifyRequest, LambdaCaller>();

/** The verified caller of a signed request (set by the plugin's preHandler hook). */
export function callerOf(request: FastifyRequest): LambdaCaller {
  const caller = callers.get(request);
  if (!caller) throw new LambdaApiError('ServiceException', 500, 'the request was not authenticated');
  return caller;
}

/** Verifies the request's SigV4 signature and remembers who signed it. */
export async function authenticate(request: FastifyRequest, deps: ApiDeps): Promise<LambdaCaller> {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  let key: AccessKeyRecord | undefined;
  await verifySignature(
    { method: request.method, url: request.raw.url ?? '/', rawHeaders: request.raw.rawHeaders, body },
    {
      service: 'lambda',
      secretOf: async (id) => (key = await deps.accessKeys.find(id))?.secret,
    },
  );
  const region = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(request.headers.authorization ?? '')?.[1];
  const caller = { key: key!, region: region ?? 'us-east-1' };
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
  const resource = name === undefined ? '*' : functionArn(name, caller.region);
  throw accessDenied(
    `User: ${caller.key.id} is not authorized to perform: ${ACTION_NAMES[action]} on resource: ${resource} (the key allows ${caller.key.allow?.join(', ')})`,
  );
}

type FnRequest = FastifyRequest<{
  Params: { name: string };
  Querystring: Record<string, string | undefined>;
}>;

/** The function a request names, checked against the caller's key; only $LATEST exists for now. */
function target(request: FnRequest, action: AccessAction): FunctionRef {
  const ref = parseFunctionRef(request.params.name, request.query.Qualifier);
  authorize(callerOf(request), action, ref.name);
  assertLatest(ref);
  return ref;
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
}): FunctionConfigInput {
  const input: FunctionConfigInput = {};
  if (body.Handler !== undefined) input.handler = body.Handler;
  if (body.Description !== undefined) input.description = body.Description;
  if (body.Timeout !== undefined) input.timeoutSec = body.Timeout;
  if (body.MemorySize !== undefined) input.memoryMb = body.MemorySize;
  if (body.Environment !== undefined) input.env = body.Environment.Variables ?? {};
  return input;
}

export function registerLambdaRoutes(app: FastifyInstance, deps: ApiDeps): void {
  void app.register(
    async (scope) => {
      // Lambda routes sign with SigV4 instead of the admin bearer key (app.ts skips this prefix),
      // checked in preHandler once the body, which the signature covers, has been read.
      scope.addHook('onRequest', async (request, reply) => {
        reply.header('x-amzn-requestid', request.id);
      });
      scope.addHook('preHandler', async (request) => {
        if (request.routeOptions.config?.unsigned) return;
        await authenticate(request, deps);
      });
      scope.setErrorHandler((error, request, reply) => {
        const lambda = toLambdaError(error) ?? fromFastifyError(error);
        if (lambda) return sendLambdaError(reply, lambda);
        request.log.error({ err: error }, 'unhandled error in the Lambda API');
        return sendLambdaError(
          reply,
          new LambdaApiError(
            'ServiceException',
            500,
            `internal error (request ${request.id}); the server log has the details`,
          ),
        );
      });

      const configurationOf = (request: FastifyRequest, fn: FunctionRecord) =>
        functionConfiguration(fn, callerOf(request).region);

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
        // Publish is accepted but publishes nothing until versions land: the answer is $LATEST.
        const fn = await deps.functions.create({
          timeoutSec: 3, // Lambda's default, not Nimbus's
          ...configInput(body),
          name: ref.name,
          runtime,
          handler: body.Handler,
          zip,
        });
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
        const maxItems = request.query.MaxItems === undefined ? 50 : Number(request.query.MaxItems);
        if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > 10_000) {
          throw invalidParameter('MaxItems must be a whole number from 1 to 10000');
        }
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
        const fn = await deps.functions.get(ref.name);
        const origin = `${request.protocol}://${request.headers.host ?? request.host}`;
        const query = codeLocationQuery(deps.adminKey, fn.name, fn.codeSha256);
        return {
          Configuration: configurationOf(request, fn),
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
          const sha256 = verifyCodeLocation(deps.adminKey, request.params.name, request.query);
          const code = await deps.functions.code(request.params.name);
          if (code.sha256 !== sha256) {
            throw resourceNotFound('the function has other code now; call GetFunction for a new link');
          }
          return reply.type('application/zip').send(code.zip);
        },
      );

      // GetFunctionConfiguration
      scope.get(`${FUNCTIONS}/:name/configuration`, async (request: FnRequest) => {
        const ref = target(request, 'manage');
        return configurationOf(request, await deps.functions.get(ref.name));
      });

      // UpdateFunctionConfiguration
      scope.put(`${FUNCTIONS}/:name/configuration`, async (request: FnRequest) => {
        const ref = target(request, 'manage');
        const body = parseBody(request.body, updateConfigurationBody);
        const patch = configInput(body);
        if (body.Runtime !== undefined) patch.runtime = nimbusRuntime(body.Runtime);
        return configurationOf(request, await deps.functions.updateConfig(ref.name, patch));
      });

      // UpdateFunctionCode
      scope.put(`${FUNCTIONS}/:name/code`, createOptions, async (request: FnRequest) => {
        const ref = target(request, 'manage');
        const body = parseBody(request.body, updateCodeBody);
        if (body.Architectures?.some((a) => a !== 'x86_64')) {
          throw invalidParameter('Architectures: Nimbus runs functions on x86_64 only');
        }
        const zip = zipOf(body.ZipFile, body.S3Bucket ?? body.ImageUri);
        if (body.DryRun) return configurationOf(request, await deps.functions.get(ref.name));
        return configurationOf(request, await deps.functions.updateCode(ref.name, zip));
      });

      // DeleteFunction
      scope.delete(`${FUNCTIONS}/:name`, async (request: FnRequest, reply) => {
        const ref = target(request, 'manage');
        await deps.functions.delete(ref.name);
        await deps.triggers.deleteAllOf(ref.name);
        return reply.code(204).send();
      });

      // Invoke. The body limit is checked by invokeFunction, which knows the invocation type.
      const invokeOptions = { bodyLimit: LIMITS.syncPayloadBytes + MB, config: { bodyLimitText: '6 MB' } };
      scope.post(`${FUNCTIONS}/:name/invocations`, invokeOptions, async (request: FnRequest, reply) => {
        const ref = target(request, 'invoke');
        return invokeFunction(deps, request, reply, ref.name);
      });

      // The Runtime Interface Emulator's route: unsigned, for the function chosen with --rie-function.
      // A signed request to the same path is an ordinary Invoke of a function named "function".
      scope.post(
        `${FUNCTIONS}${RIE_PATH}`,
        { ...invokeOptions, config: { ...invokeOptions.config, unsigned: true } },
        async (request: FnRequest, reply) => {
          if (request.headers.authorization !== undefined) {
            await authenticate(request, deps);
            const ref = target(request, 'invoke');
            return invokeFunction(deps, request, reply, ref.name);
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

      // Lambda actions Nimbus does not serve (yet): versions, aliases, permissions, event sources...
      scope.setNotFoundHandler((request, reply) =>
        sendLambdaError(
          reply,
          new LambdaApiError(
            'UnknownOperationException',
            404,
            `Nimbus does not serve ${request.method} ${request.url.split('?')[0]}: it implements CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction and Invoke`,
          ),
        ),
      );
    },
    { prefix: API_VERSION },
  );
}

function fromFastifyError(error: unknown): LambdaApiError | undefined {
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
  if (error instanceof NimbusError) return toLambdaError(error);
  return undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Lambda routes that check no signature (the Runtime Interface Emulator's). */
    unsigned?: boolean;
  }
}
