/**
 * The function settings options shared by `nimbus deploy` and `nimbus functions update`, and their
 * translation into an API patch. Parsing only: it must never talk to the server.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  NETWORKS,
  RUNTIMES,
  type AsyncConfig,
  type Destination,
  type FunctionNetwork,
  type Runtime,
} from '../core/function.js';
import type { FunctionPatch } from './api/client.js';
import { usageError } from './cli-error.js';
import { collectEnv, collectList, parseNonNegativeInt, parsePositiveInt } from './option-parsers.js';

export interface FunctionSettingOptions {
  runtime?: Runtime;
  handler?: string;
  memory?: number;
  timeout?: number;
  concurrency?: number;
  minInstances?: number;
  maxInstances?: number;
  env?: Record<string, string>;
  description?: string;
  asyncRetries?: number;
  asyncMaxAge?: number;
  onSuccess?: Destination | typeof NO_DESTINATION;
  onFailure?: Destination | typeof NO_DESTINATION;
  /** `--layer`, in the order given. */
  layer?: string[];
  /** False with `--no-layers`. */
  layers?: boolean;
  network?: FunctionNetwork;
}

/**
 * What `none` parses to. Not `null`: commander replaces a parser's `null` with `''`, which the API
 * then refused as "expected object, received string".
 */
const NO_DESTINATION = 'none';

/** `function:NAME`, an http(s) URL, or `none` (clears the destination). */
function parseDestination(value: string): Destination | typeof NO_DESTINATION {
  const v = value.trim();
  if (v === 'none') return NO_DESTINATION;
  if (v.startsWith('function:') && v.length > 'function:'.length) {
    return { type: 'function', name: v.slice('function:'.length) };
  }
  if (/^https?:\/\//i.test(v)) return { type: 'http', url: v };
  throw new InvalidArgumentError('expected function:NAME, an http(s):// URL, or none.');
}

/** Adds --runtime, --handler, --memory, --timeout, --env and --description; `note` qualifies runtime and handler. */
export function addFunctionSettingOptions(cmd: Command, note = ''): Command {
  return cmd
    .addOption(new Option('-r, --runtime <runtime>', `runtime${note}`).choices(RUNTIMES))
    .option('--handler <handler>', `module.function to call, e.g. main.handler${note}`)
    .option('--memory <mb>', 'memory limit in MB', parsePositiveInt)
    .option('--timeout <sec>', 'time limit in seconds', parsePositiveInt)
    .option('--concurrency <n>', 'calls one instance serves at once', parsePositiveInt)
    .option('--min-instances <n>', 'instances kept warm even when idle', parseNonNegativeInt)
    .option('--max-instances <n>', 'instances at most; calls beyond wait, then get 429', parsePositiveInt)
    .option(
      '-e, --env <KEY=VALUE>',
      'environment variable; repeat for more (replaces all existing ones)',
      collectEnv,
    )
    .option('--description <text>', 'short description shown in listings')
    .option('--async-retries <n>', 'retries of a failed async call, 0 to 8 (default 2)', parseNonNegativeInt)
    .option(
      '--async-max-age <sec>',
      'seconds an async call may wait or retry before it expires, 60 to 21600 (default 21600)',
      parsePositiveInt,
    )
    .option(
      '--on-success <destination>',
      'where async results go: function:NAME, an http(s) URL, or none',
      parseDestination,
    )
    .option(
      '--on-failure <destination>',
      'where finally failed async calls go: function:NAME, an http(s) URL, or none',
      parseDestination,
    )
    .option(
      '--layer <ARN_OR_NAME:VERSION>',
      'layer version unpacked at /opt; repeat for more, in order (a later layer wins; replaces the current list)',
      collectList,
    )
    .option('--no-layers', 'remove every layer from the function')
    .addOption(
      new Option(
        '--network <access>',
        'internet (default): egress to the internet, never to the host or private addresses unless the operator allows them; none: no network',
      ).choices(NETWORKS),
    );
}

/** The settings the user gave, and only those. */
export function settingsPatch(opts: FunctionSettingOptions): FunctionPatch {
  const all: FunctionPatch = {
    runtime: opts.runtime,
    handler: opts.handler,
    memoryMb: opts.memory,
    timeoutSec: opts.timeout,
    concurrency: opts.concurrency,
    minInstances: opts.minInstances,
    maxInstances: opts.maxInstances,
    env: opts.env,
    description: opts.description,
    network: opts.network,
  };
  if (opts.layer && opts.layers === false) {
    throw usageError('give --layer or --no-layers, not both');
  }
  const layers = opts.layer ?? (opts.layers === false ? [] : undefined);
  const async: Partial<AsyncConfig> = defined({
    maxRetries: opts.asyncRetries,
    maxEventAgeSec: opts.asyncMaxAge,
    onSuccess: destinationSetting(opts.onSuccess),
    onFailure: destinationSetting(opts.onFailure),
  });
  const patch = defined(all);
  if (Object.keys(async).length > 0) patch.async = async;
  if (layers) patch.layers = layers;
  return patch;
}

/** A destination option as the API takes it: `null` clears it, undefined leaves it as it is. */
function destinationSetting(
  option: Destination | typeof NO_DESTINATION | undefined,
): Destination | null | undefined {
  return option === NO_DESTINATION ? null : option;
}

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
