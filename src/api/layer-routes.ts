/**
 * Routes for layers: publish a version (a zip body with metadata in the query, or base64 JSON),
 * list layers (each with its newest version), list a layer's versions, read one (and download its
 * zip), delete one. Thin: parse, call the LayerService, shape the answer.
 */
import type { FastifyInstance } from 'fastify';
import { NimbusError } from '../core/errors.js';
import { LIMITS } from '../core/function.js';
import { layerVersionNotFound, parseLayerVersionNumber, type LayerVersionRecord } from '../core/layer.js';
import type { LayerService } from '../engine/functions/layer-service.js';
import type { ApiDeps } from './deps.js';
import { parseBody, parseQuery } from './parse.js';
import { publishLayerBody, publishLayerQuery } from './schemas.js';

const MB = 1024 * 1024;

/** A layer version as the API shows it, with its ARNs. */
function layerVersionView(layers: LayerService, v: LayerVersionRecord): Record<string, unknown> {
  return {
    layerName: v.layerName,
    version: v.version,
    arn: layers.versionArn(v.layerName, v.version),
    layerArn: layers.arn(v.layerName),
    description: v.description,
    compatibleRuntimes: v.compatibleRuntimes,
    licenseInfo: v.licenseInfo,
    codeSha256: v.codeSha256,
    codeSize: v.codeSize,
    unpackedBytes: v.unpackedBytes,
    createdAt: v.createdAt,
  };
}

type Params = { name: string; version: string };

export function registerLayerRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Params: Params; Querystring: Record<string, string> }>(
    '/v1/layers/:name/versions',
    {
      // base64 inflates the 50 MB zip limit by a third.
      bodyLimit: Math.ceil((LIMITS.zippedBytes * 4) / 3) + MB,
      config: { bodyLimitText: '50 MB of zipped layer' },
    },
    async (request, reply) => {
      const type = request.headers['content-type'] ?? '';
      let input;
      if (type.startsWith('application/zip') || type.startsWith('application/octet-stream')) {
        const zip = request.body;
        if (!Buffer.isBuffer(zip) || zip.length === 0) {
          throw new NimbusError('INVALID_ARCHIVE', 'send the layer zip as the request body');
        }
        const query = parseQuery(request.query, publishLayerQuery);
        input = {
          zip,
          description: query.description,
          licenseInfo: query.licenseInfo,
          compatibleRuntimes: query.compatibleRuntimes?.split(',').filter((r) => r !== ''),
        };
      } else {
        const body = parseBody(request.body, publishLayerBody);
        const zip = Buffer.from(body.zipBase64, 'base64');
        if (zip.length === 0)
          throw new NimbusError('INVALID_ARCHIVE', 'zipBase64 is not valid base64 zip data');
        input = { ...body, zip };
      }
      const version = await deps.layers.publish({ ...input, name: request.params.name });
      return reply.code(201).send(layerVersionView(deps.layers, version));
    },
  );

  app.get('/v1/layers', async () => ({
    layers: (await deps.layers.listLatest()).map((v) => ({
      layerName: v.layerName,
      layerArn: deps.layers.arn(v.layerName),
      latest: layerVersionView(deps.layers, v),
    })),
  }));

  app.get<{ Params: Params }>('/v1/layers/:name/versions', async (request) => ({
    versions: (await deps.layers.listVersions(request.params.name)).map((v) =>
      layerVersionView(deps.layers, v),
    ),
  }));

  app.get<{ Params: Params }>('/v1/layers/:name/versions/:version', async (request) => {
    const version = parseLayerVersionNumber(request.params.version);
    return layerVersionView(deps.layers, await deps.layers.get(request.params.name, version));
  });

  app.get<{ Params: Params }>('/v1/layers/:name/versions/:version/content', async (request, reply) => {
    const version = parseLayerVersionNumber(request.params.version);
    const zip = await deps.layers.content(await deps.layers.get(request.params.name, version));
    return reply.type('application/zip').send(zip);
  });

  app.delete<{ Params: Params }>('/v1/layers/:name/versions/:version', async (request, reply) => {
    const version = parseLayerVersionNumber(request.params.version);
    if (!(await deps.layers.delete(request.params.name, version))) {
      throw layerVersionNotFound(request.params.name, version);
    }
    return reply.code(204).send();
  });
}
