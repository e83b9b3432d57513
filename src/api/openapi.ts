/** The OpenAPI 3.1 document of the native API, built from the same zod schemas that validate requests. */
import { z } from 'zod';
import { createAccessKeyBody } from './access-key-routes.js';
import {
  createAliasBody,
  createFunctionBody,
  createTriggerBody,
  deadLetterListQuery,
  executionListQuery,
  publishLayerBody,
  publishLayerQuery,
  publishVersionBody,
  signTriggerBody,
  updateAliasBody,
  updateFunctionBody,
  updateTriggerBody,
} from './schemas.js';

const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, requestId: { type: 'string' } },
    },
  },
};

const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const errors = {
  '400': { description: 'Invalid input', ...json(errorSchema) },
  '401': { description: 'Missing or wrong API key', ...json(errorSchema) },
  '404': { description: 'Not found', ...json(errorSchema) },
};
const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const fnRef = { $ref: '#/components/schemas/Function' };
const layerRef = { $ref: '#/components/schemas/LayerVersion' };
const versionParam = { name: 'version', in: 'path', required: true, schema: { type: 'string' } };
const aliasParam = { name: 'alias', in: 'path', required: true, schema: { type: 'string' } };

export function openApiDocument(version: string): object {
  const listQuery = z.toJSONSchema(executionListQuery, { io: 'input' }) as {
    properties: Record<string, object>;
  };
  const deadLetterQuery = z.toJSONSchema(deadLetterListQuery, { io: 'input' }) as {
    properties: Record<string, object>;
  };
  return {
    openapi: '3.1.0',
    info: { title: 'Nimbus API', version, description: 'Deploy and invoke sandboxed functions.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: errorSchema,
        CreateFunction: z.toJSONSchema(createFunctionBody),
        UpdateFunction: z.toJSONSchema(updateFunctionBody),
        CreateTrigger: z.toJSONSchema(createTriggerBody, { io: 'input' }),
        UpdateTrigger: z.toJSONSchema(updateTriggerBody, { io: 'input' }),
        PublishVersion: z.toJSONSchema(publishVersionBody, { io: 'input' }),
        CreateAlias: z.toJSONSchema(createAliasBody, { io: 'input' }),
        UpdateAlias: z.toJSONSchema(updateAliasBody, { io: 'input' }),
        PublishLayer: z.toJSONSchema(publishLayerBody, { io: 'input' }),
        LayerVersion: {
          type: 'object',
          properties: {
            ...Object.fromEntries(
              ['layerName', 'arn', 'layerArn', 'description', 'licenseInfo', 'codeSha256', 'createdAt'].map(
                (k) => [k, { type: 'string' }],
              ),
            ),
            version: { type: 'integer' },
            codeSize: { type: 'integer' },
            unpackedBytes: { type: 'integer' },
            compatibleRuntimes: { type: 'array', items: { type: 'string' } },
          },
        },
        Function: {
          type: 'object',
          properties: {
            ...Object.fromEntries(
              [
                'name',
                'runtime',
                'handler',
                'description',
                'codeSha256',
                'version',
                'createdAt',
                'updatedAt',
              ].map((k) => [k, { type: 'string' }]),
            ),
            memoryMb: { type: 'integer' },
            timeoutSec: { type: 'integer' },
            codeSize: { type: 'integer' },
            env: { type: 'object', additionalProperties: { type: 'string' } },
            layers: {
              type: 'array',
              description: 'The exact layer versions mounted at /opt, in order',
              items: {
                type: 'object',
                properties: {
                  layerName: { type: 'string' },
                  version: { type: 'integer' },
                  codeSha256: { type: 'string' },
                  codeSize: { type: 'integer' },
                  unpackedBytes: { type: 'integer' },
                },
              },
            },
          },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/health': {
        get: { summary: 'Liveness', security: [], responses: { '200': { description: 'OK' } } },
      },
      '/v1/functions': {
        get: {
          summary: 'List functions (variable names only)',
          responses: { '200': { description: 'Functions' }, ...errors },
        },
        post: {
          summary: 'Create a function from a zip archive',
          requestBody: json({ $ref: '#/components/schemas/CreateFunction' }),
          responses: {
            '201': { description: 'Created', ...json(fnRef) },
            '409': { description: 'Exists' },
            '413': { description: 'Too large' },
            ...errors,
          },
        },
      },
      '/v1/functions/{name}': {
        parameters: [nameParam],
        get: {
          summary: 'Get a function',
          responses: { '200': { description: 'The function', ...json(fnRef) }, ...errors },
        },
        patch: {
          summary: 'Update configuration',
          requestBody: json({ $ref: '#/components/schemas/UpdateFunction' }),
          responses: { '200': { description: 'Updated', ...json(fnRef) }, ...errors },
        },
        delete: {
          summary: 'Delete a function (its executions stay readable)',
          responses: { '204': { description: 'Deleted' }, ...errors },
        },
      },
      '/v1/functions/{name}/code': {
        parameters: [nameParam],
        put: {
          summary: 'Replace the code',
          requestBody: { content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } } },
          responses: {
            '200': { description: 'Updated', ...json(fnRef) },
            '413': { description: 'Too large' },
            ...errors,
          },
        },
      },
      '/v1/functions/{name}/invoke': {
        parameters: [
          nameParam,
          {
            name: 'x-nimbus-invocation-type',
            in: 'header',
            schema: { type: 'string', enum: ['sync', 'async', 'RequestResponse', 'Event'] },
            description: 'async (or Event) queues the call and answers 202 with its execution id',
          },
          {
            name: 'qualifier',
            in: 'query',
            schema: { type: 'string' },
            description:
              '$LATEST (default), a version number, or an alias; header x-nimbus-executed-version names the version that served',
          },
        ],
        post: {
          summary: 'Invoke synchronously, or queue an asynchronous call; the body is the event',
          requestBody: json({}),
          responses: {
            '200': { description: "The function's result; header x-nimbus-execution-id" },
            '202': {
              description: 'Queued (async): {"executionId"}; follow it at /v1/executions/{id}',
            },
            '413': { description: 'Event over 6 MB (async events: 1 MB)' },
            '500': { description: 'Nimbus failed to run the call (INTERNAL)', ...json(errorSchema) },
            '429': {
              description:
                'The function is at its maximum and no slot freed up in time (async: the queue is full)',
              ...json(errorSchema),
            },
            '502': {
              description:
                'The function raised an error (FUNCTION_ERROR), returned over 6 MB (PAYLOAD_TOO_LARGE), crashed or failed to load (FUNCTION_CRASHED) or ran out of memory (FUNCTION_OUT_OF_MEMORY)',
              ...json(errorSchema),
            },
            '503': {
              description:
                'The function was redeployed again and again while the call waited (FUNCTION_CHANGED); retry',
              ...json(errorSchema),
            },
            '504': { description: 'The function timed out', ...json(errorSchema) },
            ...errors,
          },
        },
      },
      '/v1/functions/{name}/logs': {
        parameters: [
          nameParam,
          { name: 'tail', in: 'query', schema: { type: 'integer' } },
          { name: 'follow', in: 'query', schema: { type: 'boolean' } },
        ],
        get: {
          summary: "A function's log lines as NDJSON; follow=true streams new lines",
          responses: { '200': { description: 'NDJSON' }, ...errors },
        },
      },
      '/v1/functions/{name}/versions': {
        parameters: [nameParam],
        post: {
          summary: "Publish $LATEST's code and configuration as the next version",
          requestBody: json({ $ref: '#/components/schemas/PublishVersion' }),
          responses: {
            '201': { description: 'The new version' },
            '200': { description: '$LATEST had not changed: the newest version' },
            '409': { description: 'codeSha256 does not match $LATEST (CODE_CHANGED)', ...json(errorSchema) },
            ...errors,
          },
        },
        get: {
          summary: "The function's versions, oldest first (variable names only)",
          responses: { '200': { description: '{"versions": [...]}' }, ...errors },
        },
      },
      '/v1/functions/{name}/versions/{version}': {
        parameters: [nameParam, versionParam],
        get: { summary: 'One version', responses: { '200': { description: 'The version' }, ...errors } },
        delete: {
          summary: 'Delete a version (its number is not reused)',
          responses: {
            '204': { description: 'Deleted' },
            '409': { description: 'An alias uses it (VERSION_IN_USE)', ...json(errorSchema) },
            ...errors,
          },
        },
      },
      '/v1/functions/{name}/aliases': {
        parameters: [nameParam],
        post: {
          summary: 'Create an alias pointing at a version, optionally routing a weighted share to a second',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreateAlias' }) },
          responses: {
            '201': { description: 'The alias' },
            '409': { description: 'The alias exists (ALIAS_EXISTS)', ...json(errorSchema) },
            ...errors,
          },
        },
        get: {
          summary: "The function's aliases",
          responses: { '200': { description: '{"aliases": [...]}' }, ...errors },
        },
      },
      '/v1/functions/{name}/aliases/{alias}': {
        parameters: [nameParam, aliasParam],
        get: { summary: 'One alias', responses: { '200': { description: 'The alias' }, ...errors } },
        patch: {
          summary: "Change an alias's version, routing or description",
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/UpdateAlias' }) },
          responses: { '200': { description: 'The alias' }, ...errors },
        },
        delete: { summary: 'Delete an alias', responses: { '204': { description: 'Deleted' }, ...errors } },
      },
      '/v1/layers': {
        get: {
          summary: 'List layers, each with its newest version',
          responses: { '200': { description: '{"layers": [{layerName, layerArn, latest}]}' }, ...errors },
        },
      },
      '/v1/layers/{name}/versions': {
        parameters: [nameParam],
        post: {
          summary:
            'Publish the next version of a layer: a zip body (metadata in the query) or JSON with zipBase64',
          parameters: Object.entries(
            (z.toJSONSchema(publishLayerQuery, { io: 'input' }) as { properties: Record<string, object> })
              .properties,
          ).map(([name, schema]) => ({ name, in: 'query', required: false, schema })),
          requestBody: {
            content: {
              'application/zip': { schema: { type: 'string', format: 'binary' } },
              'application/json': { schema: { $ref: '#/components/schemas/PublishLayer' } },
            },
          },
          responses: {
            '201': { description: 'The new version', ...json(layerRef) },
            '413': { description: 'Too large' },
            ...errors,
          },
        },
        get: {
          summary: "The layer's versions, newest first",
          responses: { '200': { description: '{"versions": [...]}' }, ...errors },
        },
      },
      '/v1/layers/{name}/versions/{version}': {
        parameters: [nameParam, versionParam],
        get: {
          summary: 'One layer version',
          responses: { '200': { description: 'The layer version', ...json(layerRef) }, ...errors },
        },
        delete: {
          summary: 'Delete a layer version (functions using it keep it; its number is not reused)',
          responses: { '204': { description: 'Deleted' }, ...errors },
        },
      },
      '/v1/layers/{name}/versions/{version}/content': {
        parameters: [nameParam, versionParam],
        get: {
          summary: "Download a layer version's zip",
          responses: {
            '200': {
              description: 'The zip',
              content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } },
            },
            ...errors,
          },
        },
      },
      '/v1/executions': {
        get: {
          summary: 'List executions, newest first',
          parameters: Object.entries(listQuery.properties).map(([name, schema]) => ({
            name,
            in: 'query',
            schema,
          })),
          responses: { '200': { description: 'Executions' }, ...errors },
        },
      },
      '/v1/executions/{id}': {
        parameters: [idParam],
        get: {
          summary: 'Get an execution record',
          responses: { '200': { description: 'The record' }, ...errors },
        },
      },
      '/v1/executions/{id}/logs': {
        parameters: [idParam],
        get: {
          summary: 'Log lines of one execution',
          responses: { '200': { description: 'Lines' }, ...errors },
        },
      },
      '/v1/dead-letters': {
        get: {
          summary: 'Asynchronous calls that finally failed, newest first',
          parameters: Object.entries(deadLetterQuery.properties).map(([name, schema]) => ({
            name,
            in: 'query',
            schema,
          })),
          responses: { '200': { description: 'Dead letters' }, ...errors },
        },
      },
      '/v1/dead-letters/{id}': {
        parameters: [idParam],
        get: {
          summary: 'One dead letter: event, error, attempts, times',
          responses: { '200': { description: 'The dead letter' }, ...errors },
        },
        delete: {
          summary: 'Delete a dead letter',
          responses: { '204': { description: 'Deleted' }, ...errors },
        },
      },
      '/v1/dead-letters/{id}/replay': {
        parameters: [idParam],
        post: {
          summary: 'Queue the event again as a new asynchronous call',
          responses: {
            '202': { description: 'Queued: {"executionId", "deadLetterId"}' },
            '429': { description: 'The queue is full', ...json(errorSchema) },
            ...errors,
          },
        },
      },
      '/v1/functions/{name}/triggers': {
        parameters: [nameParam],
        post: {
          summary: 'Add an HTTP or timer trigger (a key-auth HTTP trigger answers with its key, once)',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreateTrigger' }) },
          responses: {
            '201': { description: 'Created' },
            '409': {
              description: 'The function already has an HTTP trigger, or the host is taken',
              ...json(errorSchema),
            },
            ...errors,
          },
        },
        get: {
          summary: "The function's triggers",
          responses: { '200': { description: 'Triggers' }, ...errors },
        },
      },
      '/v1/triggers': {
        get: { summary: 'Every trigger', responses: { '200': { description: 'Triggers' }, ...errors } },
      },
      '/v1/triggers/{id}': {
        parameters: [idParam],
        get: {
          summary: 'One trigger (never its key)',
          responses: { '200': { description: 'The trigger' }, ...errors },
        },
        patch: {
          summary: "Change a trigger's settings; its type stays",
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/UpdateTrigger' }) },
          responses: { '200': { description: 'Updated' }, ...errors },
        },
        delete: { summary: 'Delete a trigger', responses: { '204': { description: 'Deleted' }, ...errors } },
      },
      '/v1/triggers/{id}/next': {
        parameters: [
          idParam,
          { name: 'count', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 5 } },
        ],
        get: {
          summary: "A timer's next firing times (ISO 8601)",
          responses: {
            '200': { description: '{"triggerId", "schedule", "timezone", "next": [...]}' },
            ...errors,
          },
        },
      },
      '/v1/triggers/{id}/rotate-key': {
        parameters: [idParam],
        post: {
          summary: 'A new key for a key-auth HTTP trigger (shown once); the old one stops working',
          responses: { '200': { description: 'The trigger with its new key' }, ...errors },
        },
      },
      '/v1/triggers/{id}/sign': {
        parameters: [idParam],
        post: {
          summary: 'A signed URL for a key-auth HTTP trigger, good until it expires',
          requestBody: { required: true, ...json(z.toJSONSchema(signTriggerBody, { io: 'input' })) },
          responses: { '200': { description: '{"url", "expiresAt"}' }, ...errors },
        },
      },
      '/v1/access-keys': {
        post: {
          summary:
            'Make an access key for the AWS Lambda-compatible API (SigV4); the answer is the only one with its secret',
          requestBody: {
            required: false,
            ...json({
              ...z.toJSONSchema(createAccessKeyBody, { io: 'input' }),
              description:
                'allow: grants invoke:<function>, invoke:*, manage:<function>, manage:* (left out: full access)',
            }),
          },
          responses: {
            '201': {
              description: '{"accessKeyId", "secretAccessKey", "id", "allow", "description", "createdAt"}',
            },
            ...errors,
          },
        },
        get: {
          summary: 'Access keys, oldest first, without their secrets',
          responses: { '200': { description: '{"accessKeys": [...]}' }, ...errors },
        },
      },
      '/v1/access-keys/{id}': {
        parameters: [idParam],
        delete: {
          summary: 'Revoke an access key: requests signed with it fail at once',
          responses: { '204': { description: 'Deleted' }, ...errors },
        },
      },
      '/v1/stats': {
        get: {
          summary: 'Scheduling counters: cold starts, warm hits, pre-warmed pools, queue, throttles, memory',
          responses: { '200': { description: 'Counters' }, ...errors },
        },
      },
      '/v1/doctor': {
        get: { summary: 'Isolation in force', responses: { '200': { description: 'Report' }, ...errors } },
      },
    },
  };
}
