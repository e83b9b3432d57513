/**
 * Lambda's layer actions under /2018-10-31/layers, in Lambda's shapes: PublishLayerVersion,
 * GetLayerVersion, GetLayerVersionByArn, ListLayers, ListLayerVersions (paged with Marker and
 * MaxItems) and DeleteLayerVersion, over the LayerService. Signed with SigV4 like the function
 * actions. Publishing and deleting need `manage:*` (a layer belongs to no one function); reading
 * needs a key that may manage some function (`manage:<fn>` or `manage:*`), since such a key may
 * put any layer into its function's /opt anyway. GetLayerVersion's `Content.Location` is a link
 * that downloads the zip without a signature for 10 minutes, like GetFunction's `Code.Location`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LIMITS } from '../../core/function.js';
import { assertLayerName, parseLayerVersionNumber, type LayerVersionRecord } from '../../core/layer.js';
import type { ApiDeps } from '../deps.js';
import { parseBody } from '../parse.js';
import { codeLocationQuery, verifyCodeLocation } from './code-location.js';
import {
  LambdaApiError,
  accessDenied,
  invalidParameter,
  resourceNotFound,
  sendLambdaError,
} from './lambda-errors.js';
import { publishLayerVersionBody } from './lambda-schemas.js';
import { LAMBDA_LAYERS_API_VERSION } from '../platform-paths.js';
import { authorize, callerOf, type LambdaCaller } from './lambda-auth.js';
import { lambdaScope } from './lambda-scope.js';
import { maxItemsOf, page } from './paging.js';

/** The API version of Lambda's layer actions: the plugin's prefix. */
const API_VERSION = LAMBDA_LAYERS_API_VERSION;
const LAYERS = '/layers';
const MB = 1024 * 1024;

type LayerRequest = FastifyRequest<{
  Params: { name: string; version: string };
  Querystring: Record<string, string | undefined>;
}>;

/** Reading layers: any key that may manage a function (it could mount the layer and read /opt). */
function authorizeRead(caller: LambdaCaller): void {
  const allow = caller.key.allow;
  if (allow === null || allow.some((grant) => grant.startsWith('manage:'))) return;
  throw accessDenied(
    `User: ${caller.key.id} is not authorized to perform: lambda:GetLayerVersion (reading layers needs a manage:<function> or manage:* grant; the key allows ${allow.join(', ')})`,
  );
}

/** Lambda's date format: `2026-11-23T16:31:33.123+0000`. */
function lambdaDate(iso: string): string {
  return iso.replace(/Z$/, '+0000');
}

/** The name in a LayerName path parameter: a name, or a layer ARN of this server. */
function layerNameOf(deps: ApiDeps, given: string): string {
  if (given.startsWith('arn:')) {
    const prefix = `${deps.layers.arn('')}`;
    if (!given.startsWith(prefix)) {
      throw invalidParameter(`LayerName ${given} is not a layer of this server: use ${prefix}NAME or NAME`);
    }
    given = given.slice(prefix.length);
  }
  assertLayerName(given);
  return given;
}

export function registerLambdaLayerRoutes(app: FastifyInstance, deps: ApiDeps): void {
  /** A version as GetLayerVersion and PublishLayerVersion show it. */
  const versionShape = (request: FastifyRequest, v: LayerVersionRecord): Record<string, unknown> => {
    const origin = `${request.protocol}://${request.headers.host ?? request.host}`;
    const query = codeLocationQuery(deps.adminKey, `layer:${v.layerName}`, v.codeSha256);
    return {
      Content: {
        Location: `${origin}${API_VERSION}${LAYERS}/${encodeURIComponent(v.layerName)}/versions/${v.version}/content?${query}`,
        CodeSha256: Buffer.from(v.codeSha256, 'hex').toString('base64'),
        CodeSize: v.codeSize,
      },
      ...listItem(v),
      LayerArn: deps.layers.arn(v.layerName),
    };
  };

  /** A version as ListLayerVersions and ListLayers show it. */
  const listItem = (v: LayerVersionRecord): Record<string, unknown> => ({
    LayerVersionArn: deps.layers.versionArn(v.layerName, v.version),
    Version: v.version,
    Description: v.description,
    CreatedDate: lambdaDate(v.createdAt),
    ...(v.compatibleRuntimes.length > 0 ? { CompatibleRuntimes: v.compatibleRuntimes } : {}),
    ...(v.licenseInfo ? { LicenseInfo: v.licenseInfo } : {}),
    CompatibleArchitectures: ['x86_64'],
  });

  void app.register(
    async (scope) => {
      lambdaScope(scope, deps);

      // PublishLayerVersion
      scope.post(
        `${LAYERS}/:name/versions`,
        {
          bodyLimit: Math.ceil((LIMITS.zippedBytes * 4) / 3) + MB,
          config: { bodyLimitText: '50 MB of zipped layer' },
        },
        async (request: LayerRequest, reply) => {
          authorize(callerOf(request), 'manage');
          const name = layerNameOf(deps, request.params.name);
          const body = parseBody(request.body, publishLayerVersionBody);
          if (body.Content.ZipFile === undefined) {
            throw invalidParameter(
              body.Content.S3Bucket === undefined
                ? 'Content.ZipFile is required: Nimbus takes layers as a base64 zip'
                : 'Nimbus takes layers only as Content.ZipFile (a base64 zip); S3 locations are not supported: use --zip-file fileb://layer.zip',
            );
          }
          if (body.CompatibleArchitectures?.some((a) => a !== 'x86_64')) {
            throw invalidParameter('CompatibleArchitectures: Nimbus runs functions on x86_64 only');
          }
          const zip = Buffer.from(body.Content.ZipFile, 'base64');
          if (zip.length === 0) throw invalidParameter('Content.ZipFile is not valid base64 zip data');
          const version = await deps.layers.publish({
            name,
            zip,
            description: body.Description,
            compatibleRuntimes: body.CompatibleRuntimes,
            licenseInfo: body.LicenseInfo,
          });
          return reply.code(201).send(versionShape(request, version));
        },
      );

      // ListLayerVersions: newest first.
      scope.get(`${LAYERS}/:name/versions`, async (request: LayerRequest) => {
        authorizeRead(callerOf(request));
        const name = layerNameOf(deps, request.params.name);
        const maxItems = maxItemsOf(request.query.MaxItems, 50);
        const runtime = request.query.CompatibleRuntime;
        const versions = (await deps.layers.listVersions(name)).filter(
          (v) => runtime === undefined || v.compatibleRuntimes.includes(runtime),
        );
        const { items, next } = page(versions, (v) => String(v.version), request.query.Marker, maxItems);
        return { LayerVersions: items.map(listItem), ...(next ? { NextMarker: next } : {}) };
      });

      // GetLayerVersion
      scope.get(`${LAYERS}/:name/versions/:version`, async (request: LayerRequest) => {
        authorizeRead(callerOf(request));
        const name = layerNameOf(deps, request.params.name);
        const version = parseLayerVersionNumber(request.params.version);
        return versionShape(request, await deps.layers.get(name, version));
      });

      // Content.Location of GetLayerVersion: no signature needed for 10 minutes (like S3's links).
      scope.get(
        `${LAYERS}/:name/versions/:version/content`,
        { config: { unsigned: true } },
        async (request: LayerRequest, reply) => {
          const name = layerNameOf(deps, request.params.name);
          const sha256 = verifyCodeLocation(deps.adminKey, `layer:${name}`, request.query);
          const version = await deps.layers.get(name, parseLayerVersionNumber(request.params.version));
          if (version.codeSha256 !== sha256) {
            throw resourceNotFound('the link names other content; call GetLayerVersion for a new one');
          }
          return reply.type('application/zip').send(await deps.layers.content(version));
        },
      );

      // DeleteLayerVersion: 204 whether or not it existed, as on Lambda.
      scope.delete(`${LAYERS}/:name/versions/:version`, async (request: LayerRequest, reply) => {
        authorize(callerOf(request), 'manage');
        const name = layerNameOf(deps, request.params.name);
        await deps.layers.delete(name, parseLayerVersionNumber(request.params.version));
        return reply.code(204).send();
      });

      // ListLayers, and GetLayerVersionByArn (`?find=LayerVersion&Arn=...`), which shares its path.
      const listLayers = async (request: LayerRequest) => {
        authorizeRead(callerOf(request));
        if (request.query.find !== undefined) {
          if (request.query.find !== 'LayerVersion' || request.query.Arn === undefined) {
            throw invalidParameter('GetLayerVersionByArn takes find=LayerVersion and Arn=LAYER_VERSION_ARN');
          }
          const arn = request.query.Arn;
          const cut = arn.lastIndexOf(':');
          const name = layerNameOf(deps, arn.slice(0, cut));
          return versionShape(
            request,
            await deps.layers.get(name, parseLayerVersionNumber(arn.slice(cut + 1))),
          );
        }
        const maxItems = maxItemsOf(request.query.MaxItems, 50);
        const runtime = request.query.CompatibleRuntime;
        const layers = await deps.layers.listLatest(runtime);
        const { items, next } = page(layers, (v) => v.layerName, request.query.Marker, maxItems);
        return {
          Layers: items.map((v) => ({
            LayerName: v.layerName,
            LayerArn: deps.layers.arn(v.layerName),
            LatestMatchingVersion: listItem(v),
          })),
          ...(next ? { NextMarker: next } : {}),
        };
      };
      scope.get(LAYERS, listLayers);
      scope.get(`${LAYERS}/`, listLayers);

      scope.setNotFoundHandler((request, reply) =>
        sendLambdaError(
          reply,
          new LambdaApiError(
            'UnknownOperationException',
            404,
            `Nimbus does not serve ${request.method} ${request.url.split('?')[0]}: of the layer actions it implements PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers, ListLayerVersions and DeleteLayerVersion (not layer permissions)`,
          ),
        ),
      );
    },
    { prefix: API_VERSION },
  );
}
