/**
 * The function: what users deploy. Holds the domain type, its limits and the rules a function's
 * configuration must follow. Pure: no I/O, no adapters.
 */
import { validationFailed } from './errors.js';
import type { FunctionLayer } from './layer.js';

export const RUNTIMES = ['python3', 'nodejs'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/**
 * A function's network access: `internet` (egress to the internet, never to the host, private,
 * link-local or metadata addresses unless the operator allows them) or `none` (loopback only).
 */
/**
 * What every runtime process starts with, whatever runs it. Lambda's values where they work here:
 * TZ `:UTC` (glibc, Node and Python read it as UTC), PATH with `/opt/bin` (a layer's programs);
 * LANG is `C.UTF-8`, the UTF-8 locale every Debian system has (Lambda's `en_US.UTF-8` may not be
 * installed). A function's own variables may replace them.
 */
export const RUNTIME_BASE_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/local/bin:/usr/bin:/bin:/opt/bin',
  HOME: '/tmp',
  LANG: 'C.UTF-8',
  TZ: ':UTC',
});

export const NETWORKS = ['internet', 'none'] as const;
export type FunctionNetwork = (typeof NETWORKS)[number];
export const DEFAULT_NETWORK: FunctionNetwork = 'internet';

export function assertNetwork(network: string): asserts network is FunctionNetwork {
  if (!(NETWORKS as readonly string[]).includes(network)) {
    throw validationFailed(
      `network '${network}' is invalid: give 'internet' (egress to the internet, the default) or 'none' (no network but the sandbox's own loopback)`,
      { field: 'network' },
    );
  }
}

export const LIMITS = {
  memoryMb: { min: 64, max: 10240, default: 128 },
  timeoutSec: { min: 1, max: 900, default: 5 },
  /** Calls one instance serves at once. */
  concurrency: { min: 1, max: 1000, default: 1 },
  /** Instances kept warm even when idle (like provisioned concurrency). */
  minInstances: { min: 0, max: 100, default: 0 },
  /** Instances at most; calls beyond wait in a bounded queue, then get 429. */
  maxInstances: { min: 1, max: 1000, default: 100 },
  /** Zipped code size. */
  zippedBytes: 50 * 1024 * 1024,
  /** Unpacked code size. */
  unpackedBytes: 250 * 1024 * 1024,
  /** Files in one package. */
  files: 20_000,
  /** Sync request and response payloads. */
  syncPayloadBytes: 6 * 1024 * 1024,
  /** Events of asynchronous calls (they wait in the durable queue). */
  asyncPayloadBytes: 1024 * 1024,
  /** Retries of a failed asynchronous call (after its first attempt). */
  asyncMaxRetries: { min: 0, max: 8, default: 2 },
  /** Age (since it was queued) past which an asynchronous call is no longer run. */
  asyncMaxEventAgeSec: { min: 60, max: 21_600, default: 21_600 },
  envBytes: 4 * 1024,
  descriptionChars: 256,
} as const;

/** A function as stored; code is referenced by the SHA-256 of its zip. */
export interface FunctionRecord extends FunctionConfig {
  name: string;
  codeSha256: string;
  codeSize: number;
  /** `$LATEST` until versions exist. */
  version: string;
  createdAt: string;
  updatedAt: string;
}

/** The configuration a user may set; everything but name and code is optional on update. */
export interface FunctionConfig {
  runtime: Runtime;
  handler: string;
  memoryMb: number;
  timeoutSec: number;
  concurrency: number;
  minInstances: number;
  maxInstances: number;
  env: Record<string, string>;
  description: string;
  /** How asynchronous calls of this function are retried and where their results go. */
  async: AsyncConfig;
  /** Layer versions unpacked at /opt in this order (a later layer's file wins); at most 5. */
  layers: FunctionLayer[];
  network: FunctionNetwork;
}

/** Where an asynchronous call's result record goes: another function (invoked asynchronously) or an HTTP URL (POSTed). */
export type Destination = { type: 'function'; name: string } | { type: 'http'; url: string };

/** Per-function settings of asynchronous invocation, like Lambda's event invoke config. */
export interface AsyncConfig {
  maxRetries: number;
  maxEventAgeSec: number;
  onSuccess: Destination | null;
  onFailure: Destination | null;
}

export const DEFAULT_ASYNC_CONFIG: AsyncConfig = Object.freeze({
  maxRetries: LIMITS.asyncMaxRetries.default,
  maxEventAgeSec: LIMITS.asyncMaxEventAgeSec.default,
  onSuccess: null,
  onFailure: null,
});

/** Checks retries, event age and the shape of both destinations; the message names what to fix. */
export function assertAsyncConfig(config: AsyncConfig): void {
  const range = (field: string, value: number, r: { min: number; max: number }) => {
    if (!Number.isInteger(value) || value < r.min || value > r.max) {
      throw validationFailed(
        `async.${field} must be a whole number from ${r.min} to ${r.max} (got ${value})`,
        {
          field: `async.${field}`,
        },
      );
    }
  };
  range('maxRetries', config.maxRetries, LIMITS.asyncMaxRetries);
  range('maxEventAgeSec', config.maxEventAgeSec, LIMITS.asyncMaxEventAgeSec);
  for (const field of ['onSuccess', 'onFailure'] as const) {
    const d = config[field];
    if (d === null) continue;
    if (d.type === 'function') {
      if (!NAME_PATTERN.test(d.name)) {
        throw validationFailed(
          `async.${field} names function '${d.name}', which is not a valid function name`,
          { field: `async.${field}` },
        );
      }
    } else if (d.type === 'http') {
      let url: URL | undefined;
      try {
        url = new URL(d.url);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        throw validationFailed(
          `async.${field} URL '${d.url}' is invalid: give an absolute http:// or https:// URL`,
          { field: `async.${field}` },
        );
      }
    } else {
      throw validationFailed(
        `async.${field} must be {"type":"function","name":"NAME"} or {"type":"http","url":"https://..."}`,
        { field: `async.${field}` },
      );
    }
  }
}

const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** DNS-label rules: lower-case letters, digits and hyphens, 1 to 63 characters, no hyphen at either end. */
export function assertFunctionName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw validationFailed(
      `function name '${name}' is invalid: use 1 to 63 lower-case letters, digits or hyphens, starting and ending with a letter or digit`,
      { field: 'name' },
    );
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Variables the platform sets for the function, which users may not set: Nimbus's own, Lambda's
 * reserved ones (its documented list, less the credentials, which Nimbus does not hand out yet, so
 * a function may be given its own) and Function Compute's `FC_*`. TZ, LANG and PATH are not
 * reserved, as on Lambda: a function may set its own.
 */
const RESERVED_ENV =
  /^(NIMBUS_|AWS_LAMBDA_|FC_|_HANDLER$|_X_AMZN_TRACE_ID$|AWS_REGION$|AWS_DEFAULT_REGION$|AWS_EXECUTION_ENV$|LAMBDA_TASK_ROOT$|LAMBDA_RUNTIME_DIR$)/;

export function assertEnv(env: Record<string, string>): void {
  let bytes = 0;
  for (const [key, value] of Object.entries(env)) {
    if (!ENV_NAME.test(key)) {
      throw validationFailed(
        `environment variable name '${key}' is invalid: use letters, digits and underscores, not starting with a digit`,
        { field: 'env' },
      );
    }
    if (RESERVED_ENV.test(key)) {
      throw validationFailed(
        `environment variable '${key}' is reserved: the platform sets it for every function (as Lambda and Function Compute do: _HANDLER, _X_AMZN_TRACE_ID, AWS_REGION, AWS_DEFAULT_REGION, AWS_EXECUTION_ENV, AWS_LAMBDA_*, LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR, FC_*, NIMBUS_*); choose another name`,
        { field: 'env' },
      );
    }
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (bytes > LIMITS.envBytes) {
    throw validationFailed(
      `environment variables take ${bytes} bytes; the limit is ${LIMITS.envBytes} bytes in total`,
      { field: 'env' },
    );
  }
}

/** Lambda's rule for a handler: 1 to 128 characters, none of them whitespace. */
const HANDLER_PATTERN = /^\S{1,128}$/;

/**
 * Checks a handler string as Lambda's API does (any string without whitespace, at most 128
 * characters). How it names a module and a function is the runtime's business: see
 * `core/handler.ts` for both runtimes' rules and the deploy-time check of the package.
 */
export function assertHandler(runtime: Runtime, handler: string): void {
  if (!HANDLER_PATTERN.test(handler)) {
    const example = runtime === 'python3' ? 'main.handler (def handler in main.py)' : 'index.handler';
    throw validationFailed(
      `handler '${handler}' is invalid for ${runtime}: give 1 to 128 characters without whitespace, module.function, e.g. ${example}`,
      { field: 'handler' },
    );
  }
}
