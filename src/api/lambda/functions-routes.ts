/**
 * Lambda's function actions under /2015-03-31/functions: CreateFunction, ListFunctions,
 * GetFunction (with its unsigned Code.Location link), GetFunctionConfiguration,
 * UpdateFunctionConfiguration, UpdateFunctionCode and DeleteFunction, over the FunctionService
 * (and the VersionService for qualified names and `Publish: true`). Thin: parse, check the
 * caller's key, call the service, shape the answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { keyAllows } from '../../core/access-key.js';
import { LIMITS } from '../../core/function.js';
import { LATEST, isVersionNumber } from '../../core/version.js';
import type { FunctionConfigInput } from '../../engine/functions/function-service.js';
import type { ApiDeps } from '../deps.js';
import { LAMBDA_API_VERSION } from '../platform-paths.js';
import { parseBody } from '../parse.js';
import { codeLocationQuery, verifyCodeLocation } from './code-location.js';
import { configurationOf, publishNow, qualifiedConfiguration } from './configuration-views.js';
import { assertUnqualified, nimbusRuntime, parseFunctionRef } from './function-configuration.js';
import { authorize, callerOf, target, type FnRequest } from './lambda-auth.js';
import { invalidParameter, resourceNotFound } from './lambda-errors.js';
import { createFunctionBody, updateCodeBody, updateConfigurationBody } from './lambda-schemas.js';
import { maxItemsOf } from './paging.js';

const FUNCTIONS = '/functions';
const MB = 1024 * 1024;

/** The code as a zip, from Lambda's `ZipFile`; S3 locations and images are refused by name. */
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

/** Lambda's configuration fields as Nimbus's configuration input (fields left out stay unset). */
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

/** Adds the function actions to `scope`, a Lambda scope (see lambda-scope.ts) at LAMBDA_API_VERSION. */
export function registerFunctionRoutes(scope: FastifyInstance, deps: ApiDeps): void {
  // CreateFunction
  const create = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = parseBody(request.body, createFunctionBody);
    const ref = parseFunctionRef(body.FunctionName);
    authorize(callerOf(request), 'manage', ref.name);
    if (ref.qualifier !== undefined) throw invalidParameter('FunctionName must not carry a qualifier');
    if (body.PackageType !== undefined && body.PackageType !== 'Zip') {
      throw invalidParameter(`PackageType ${body.PackageType} is not supported; Nimbus runs Zip packages`);
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
    if (body.Publish) return reply.code(201).send(await publishNow(deps, request, fn.name));
    return reply.code(201).send(configurationOf(deps, request, fn));
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
      Functions: page.map((fn) => configurationOf(deps, request, fn)),
      ...(more ? { NextMarker: Buffer.from(page[page.length - 1]!.name).toString('base64url') } : {}),
    };
  };
  scope.get(FUNCTIONS, list);
  scope.get(`${FUNCTIONS}/`, list);

  // GetFunction
  scope.get(`${FUNCTIONS}/:name`, async (request: FnRequest) => {
    const ref = target(request, 'manage');
    const { fn, configuration } = await qualifiedConfiguration(deps, request, ref);
    const origin = `${request.protocol}://${request.headers.host ?? request.host}`;
    const query = codeLocationQuery(deps.adminKey, fn.name, fn.codeSha256);
    return {
      Configuration: configuration,
      Code: {
        RepositoryType: 'S3',
        Location: `${origin}${LAMBDA_API_VERSION}${FUNCTIONS}/${encodeURIComponent(fn.name)}/code?${query}`,
      },
    };
  });

  // Code.Location of GetFunction: a link that needs no signature for 10 minutes (like S3's).
  scope.get(`${FUNCTIONS}/:name/code`, { config: { unsigned: true } }, async (request: FnRequest, reply) => {
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
  });

  // GetFunctionConfiguration
  scope.get(`${FUNCTIONS}/:name/configuration`, async (request: FnRequest) => {
    const ref = target(request, 'manage');
    return (await qualifiedConfiguration(deps, request, ref)).configuration;
  });

  // UpdateFunctionConfiguration
  scope.put(`${FUNCTIONS}/:name/configuration`, async (request: FnRequest) => {
    const ref = target(request, 'manage');
    assertUnqualified(ref, 'UpdateFunctionConfiguration');
    const body = parseBody(request.body, updateConfigurationBody);
    const patch = configInput(body);
    if (body.Runtime !== undefined) patch.runtime = nimbusRuntime(body.Runtime);
    return configurationOf(deps, request, await deps.functions.updateConfig(ref.name, patch));
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
    if (body.DryRun) return configurationOf(deps, request, await deps.functions.get(ref.name));
    const fn = await deps.functions.updateCode(ref.name, zip);
    if (body.Publish) return publishNow(deps, request, fn.name);
    return configurationOf(deps, request, fn);
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
}
