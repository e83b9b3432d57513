/**
 * The function settings options shared by `nimbus deploy` and `nimbus functions update`, and their
 * translation into an API patch. Parsing only: it must never talk to the server.
 */
import { Option, type Command } from 'commander';
import { RUNTIMES, type Runtime } from '../core/function.js';
import type { FunctionPatch } from './api-client.js';
import { collectEnv, parseNonNegativeInt, parsePositiveInt } from './option-parsers.js';

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
    .option('--description <text>', 'short description shown in listings');
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
  };
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined)) as FunctionPatch;
}
