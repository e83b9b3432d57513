/**
 * Request body schemas of the native /v1 API (zod), used both to validate requests and to
 * generate the OpenAPI document, so the two cannot disagree. Shape only: domain rules (name
 * format, limits, reserved variables) are checked by the core with the same messages everywhere.
 */
import { z } from 'zod';
import { EXECUTION_STATUSES } from '../core/execution.js';
import { NETWORKS, RUNTIMES } from '../core/function.js';
import { MAX_SIGNED_URL_SEC } from './trigger-auth.js';
import {
  HTTP_AUTH_MODES,
  HTTP_METHODS,
  HTTP_STYLES,
  MISSED_TICK_POLICIES,
  TIMER_LIMITS,
} from '../core/trigger.js';

const env = z.record(z.string(), z.string()).describe('Environment variables given to the function');

const scaling = {
  concurrency: z
    .number()
    .int()
    .optional()
    .describe('calls one instance serves at once, 1 to 1000, default 1'),
  minInstances: z.number().int().optional().describe('instances kept warm, 0 to 100, default 0'),
  maxInstances: z.number().int().optional().describe('instances at most, 1 to 1000, default 100'),
};

const network = z
  .enum(NETWORKS)
  .optional()
  .describe(
    "internet (default): egress to the internet, never to the host, private, link-local or metadata addresses unless the operator allows them; none: no network but the sandbox's own loopback",
  );

const destination = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('function'), name: z.string() }).strict(),
    z.object({ type: z.literal('http'), url: z.string() }).strict(),
  ])
  .nullable()
  .optional()
  .describe('{"type":"function","name":"other-fn"} or {"type":"http","url":"https://..."}; null clears it');

const asyncSettings = z
  .object({
    maxRetries: z.number().int().optional().describe('retries of a failed async call, 0 to 8, default 2'),
    maxEventAgeSec: z
      .number()
      .int()
      .optional()
      .describe('seconds an async call may wait or retry, 60 to 21600, default 21600'),
    onSuccess: destination,
    onFailure: destination,
  })
  .strict()
  .optional()
  .describe('Asynchronous invocation: retries, maximum event age, destinations');

const layerRefs = z
  .array(z.string())
  .describe(
    'Layer versions unpacked read-only at /opt, in order (a later layer wins): ARNs arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION or NAME:VERSION; at most 5; [] removes them',
  );

export const createFunctionBody = z
  .object({
    name: z.string().describe('DNS label: lower-case letters, digits, hyphens; 1 to 63 characters'),
    runtime: z.enum(RUNTIMES),
    handler: z.string().describe('module.function, e.g. main.handler'),
    code: z
      .object({ zipBase64: z.string().min(1).describe('The code package as a base64 zip archive') })
      .strict(),
    memoryMb: z.number().int().optional().describe('64 to 10240, default 128'),
    timeoutSec: z.number().int().optional().describe('1 to 900, default 5'),
    ...scaling,
    env: env.optional(),
    description: z.string().optional(),
    async: asyncSettings,
    layers: layerRefs.optional(),
    network,
  })
  .strict();

export const updateFunctionBody = z
  .object({
    runtime: z.enum(RUNTIMES).optional(),
    handler: z.string().optional(),
    memoryMb: z.number().int().optional(),
    timeoutSec: z.number().int().optional(),
    ...scaling,
    env: env.optional(),
    description: z.string().optional(),
    async: asyncSettings,
    layers: layerRefs.optional(),
    network,
  })
  .strict();

const layerMetadata = {
  description: z.string().optional().describe('up to 256 characters'),
  compatibleRuntimes: z
    .array(z.string())
    .optional()
    .describe('Lambda runtime names the layer suits, e.g. ["python3.12", "nodejs20.x"] (informational)'),
  licenseInfo: z.string().optional().describe('up to 512 characters, e.g. MIT'),
};

/** Publishing a layer version as JSON (the zip may also be sent as the body, with the metadata in the query). */
export const publishLayerBody = z
  .object({
    zipBase64: z.string().min(1).describe('The layer as a base64 zip archive'),
    ...layerMetadata,
  })
  .strict();

/** Metadata of a layer version published with a zip body. */
export const publishLayerQuery = z
  .object({
    description: layerMetadata.description,
    compatibleRuntimes: z
      .string()
      .optional()
      .describe('Lambda runtime names, comma-separated, e.g. python3.12,nodejs20.x (informational)'),
    licenseInfo: layerMetadata.licenseInfo,
  })
  .strict();

export const executionListQuery = z
  .object({
    function: z.string().optional(),
    status: z.enum(EXECUTION_STATUSES).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
    before: z.string().datetime().optional(),
  })
  .strict();

export const functionLogsQuery = z
  .object({
    tail: z.coerce.number().int().min(0).max(10_000).default(100),
    follow: z.enum(['true', 'false', '1', '0']).optional(),
  })
  .strict();

const cors = z
  .object({
    allowOrigins: z.array(z.string()).optional().describe('origins allowed to call, or ["*"]'),
    allowMethods: z.array(z.string()).optional(),
    allowHeaders: z.array(z.string()).optional(),
    exposeHeaders: z.array(z.string()).optional(),
    maxAgeSec: z.number().int().min(0).max(86_400).optional(),
    allowCredentials: z.boolean().optional(),
  })
  .strict();

const triggerQualifier = z
  .string()
  .min(1)
  .max(128)
  .nullable()
  .optional()
  .describe('version number or alias the trigger calls; default (or null) $LATEST');

const httpTriggerFields = {
  type: z.literal('http'),
  auth: z
    .enum(HTTP_AUTH_MODES)
    .optional()
    .describe('anonymous, or key (bearer key or signed URL); default key'),
  style: z
    .enum(HTTP_STYLES)
    .optional()
    .describe(
      'lambda (function URL payload 2.0), wsgi (Python), fetch (Node Request/Response); default lambda',
    ),
  methods: z.array(z.enum(HTTP_METHODS)).optional().describe('methods accepted; default all'),
  host: z.string().nullable().optional().describe('a host name the trigger also answers for'),
  cors: cors.nullable().optional(),
  enabled: z.boolean().optional(),
  qualifier: triggerQualifier,
};

const timerTriggerFields = {
  type: z.literal('timer'),
  schedule: z
    .string()
    .optional()
    .describe('cron (5 or 6 fields), cron(min hour dom month dow year), rate(5 minutes) or @every 5m'),
  timezone: z.string().optional().describe('IANA time zone of the schedule; default UTC'),
  payload: z.unknown().optional().describe('JSON delivered as the event of every firing; default {}'),
  missedTicks: z
    .enum(MISSED_TICK_POLICIES)
    .optional()
    .describe('a tick missed while the server was down: fire_once (default) or skip'),
  enabled: z.boolean().optional(),
  qualifier: triggerQualifier,
};

export const createTriggerBody = z.discriminatedUnion('type', [
  z.object(httpTriggerFields).strict(),
  z.object({ ...timerTriggerFields, schedule: timerTriggerFields.schedule.unwrap() }).strict(),
]);

/** PATCH: the same fields, all optional; `type` (if given) must match the trigger's. */
export const updateTriggerBody = z.discriminatedUnion('type', [
  z.object(httpTriggerFields).strict(),
  z.object(timerTriggerFields).strict(),
]);

export const triggerNextQuery = z
  .object({ count: z.coerce.number().int().min(1).max(TIMER_LIMITS.nextCountMax).default(5) })
  .strict();
export const deadLetterListQuery = z
  .object({
    function: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
    before: z.string().datetime().optional(),
  })
  .strict();

export const signTriggerBody = z
  .object({
    method: z.enum(HTTP_METHODS).default('GET').describe('the method the URL is good for; default GET'),
    path: z
      .string()
      .startsWith('/')
      .max(2048)
      .default('/')
      .describe('path (and query) the function sees, e.g. /report?day=1; default /'),
    expiresInSec: z
      .number()
      .int()
      .min(1)
      .max(MAX_SIGNED_URL_SEC)
      .default(3600)
      .describe('how long the URL works; default 3600, at most 7 days'),
  })
  .strict();

const versionRef = z
  .union([z.string(), z.number().int()])
  .transform(String)
  .describe('a published version number (1, 2, …), or $LATEST where allowed');

export const publishVersionBody = z
  .object({
    description: z.string().optional().describe("describes the version; default the function's description"),
    codeSha256: z
      .string()
      .optional()
      .describe("precondition: $LATEST's code SHA-256 (hex); 409 CODE_CHANGED when it differs"),
  })
  .strict();

const aliasRouting = z
  .object({
    version: versionRef,
    weight: z.number().describe('share of calls, 0 to 1, sent to this version instead'),
  })
  .strict()
  .nullable()
  .optional()
  .describe('{"version": "3", "weight": 0.1} sends a tenth of the calls to version 3; null removes it');

export const createAliasBody = z
  .object({
    name: z.string().describe('1 to 128 letters, digits, - or _, not only digits, e.g. production'),
    functionVersion: versionRef,
    description: z.string().optional(),
    routing: aliasRouting,
  })
  .strict();

export const updateAliasBody = z
  .object({
    functionVersion: versionRef.optional(),
    description: z.string().optional(),
    routing: aliasRouting,
  })
  .strict();
