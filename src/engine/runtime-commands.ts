/**
 * How each runtime is started inside a sandbox: which host interpreter, with which flags and
 * which minimal environment. Interpreters are resolved once, to real binaries (not shell shims,
 * which cost 100+ ms a start).
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { logGroupName, type ArnScope } from '../core/arn.js';
import type { FunctionRecord, Runtime } from '../core/function.js';

interface RuntimeCommand {
  command: string[];
  env: Record<string, string>;
  /** Install prefixes outside /usr that the sandbox must mount for the interpreter to run. */
  hostPaths: string[];
}

function installPrefix(binary: string): string[] {
  const real = realpathSync(binary);
  if (real.startsWith('/usr/')) return [];
  return [dirname(dirname(real))];
}

function findPython(): string {
  for (const candidate of ['/usr/bin/python3', '/usr/local/bin/python3']) {
    if (existsSync(candidate)) return realpathSync(candidate);
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, 'python3');
    if (dir && existsSync(candidate) && !dir.includes('shims')) return realpathSync(candidate);
  }
  throw new Error('no python3 interpreter found: install python3 (Debian: apt-get install python3)');
}

let python: string | undefined;

/**
 * The Lambda-style name of the interpreter functions of `runtime` run on: `python3.11` (from the
 * resolved binary's name, `python3` when it names no minor version) or `nodejs20.x`.
 */
export function runtimeVersionName(runtime: Runtime): string {
  if (runtime === 'nodejs') return `nodejs${process.versions.node.split('.')[0]}.x`;
  try {
    python ??= findPython();
  } catch {
    return 'python3';
  }
  const minor = /python(3\.\d+)$/.exec(python)?.[1];
  return minor ? `python${minor}` : 'python3';
}

/**
 * What every runtime process starts with. Lambda's values where they work here: TZ `:UTC` (glibc,
 * Node and Python read it as UTC), PATH with `/opt/bin` (a layer's programs); LANG is `C.UTF-8`,
 * the UTF-8 locale every Debian system has (Lambda's `en_US.UTF-8` may not be installed).
 */
const BASE_ENV = {
  PATH: '/usr/local/bin:/usr/bin:/bin:/opt/bin',
  HOME: '/tmp',
  LANG: 'C.UTF-8',
  TZ: ':UTC',
};

/** Facts about the instance a function is loaded into, for its environment. */
interface InstanceFacts {
  /** The server's region and account id. */
  scope: ArnScope;
  /** The instance's id (`i-<uuid>`): its 32 hex digits name the log stream, as on Lambda. */
  instanceId: string;
  /** Started for the function's minimum instances, ahead of any call. */
  provisioned: boolean;
  /** When the instance is loaded (the log stream's date). */
  now: Date;
}

/**
 * The environment a function sees on top of the runtime's (which has LAMBDA_TASK_ROOT and
 * LAMBDA_RUNTIME_DIR, since only the sandbox driver knows where code and runtime are mounted):
 * Lambda's documented variables, Function Compute's, and Nimbus's own. The function's variables
 * may replace the unreserved defaults (TZ, LANG, PATH, HOME), as on Lambda; the reserved ones
 * always win. No AWS credentials are set (Nimbus has no roles to take them from). Sent with
 * `init`, since a pre-warmed runtime starts before it has a function.
 */
export function functionEnv(fn: FunctionRecord, facts: InstanceFacts): Record<string, string> {
  const { region, accountId } = facts.scope;
  const memory = String(fn.memoryMb);
  return {
    ...BASE_ENV,
    ...fn.env,
    _HANDLER: fn.handler,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${runtimeVersionName(fn.runtime)}`,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_VERSION: fn.version,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: memory,
    AWS_LAMBDA_INITIALIZATION_TYPE: facts.provisioned ? 'provisioned-concurrency' : 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: logGroupName(fn.name),
    AWS_LAMBDA_LOG_STREAM_NAME: logStreamName(fn.version, facts.instanceId, facts.now),
    FC_FUNCTION_NAME: fn.name,
    FC_FUNCTION_HANDLER: fn.handler,
    FC_FUNCTION_MEMORY_SIZE: memory,
    FC_FUNCTION_VERSION: fn.version,
    FC_REGION: region,
    FC_ACCOUNT_ID: accountId,
    FC_INSTANCE_ID: facts.instanceId,
    NIMBUS_FUNCTION_NAME: fn.name,
    NIMBUS_FUNCTION_VERSION: fn.version,
    NIMBUS_FUNCTION_MEMORY_MB: memory,
  };
}

/**
 * Lambda's log stream name of an instance: `YYYY/MM/DD/[<version>]<32 hex>`, the date in UTC and
 * the hex digits those of the instance id.
 */
function logStreamName(version: string, instanceId: string, now: Date): string {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  const hex = instanceId.replace(/[^0-9a-f]/g, '').slice(-32);
  return `${day}/[${version}]${hex}`;
}

/** The command and base environment of a generic runtime process of one shape (runtime and memory). */
export function runtimeCommand(runtime: Runtime, memoryMb: number): RuntimeCommand {
  const env: Record<string, string> = {
    ...BASE_ENV,
    NIMBUS_CODE_DIR: '${CODE}',
    NIMBUS_OPT_DIR: '${OPT}',
    LAMBDA_TASK_ROOT: '${CODE}',
    LAMBDA_RUNTIME_DIR: '${RUNTIME}',
    FC_FUNC_CODE_PATH: '${CODE}',
    // As on Lambda, shared libraries in the package's and the layers' lib/ load by name. The
    // dynamic linker reads this when a process starts, so it belongs to the generic runtime.
    LD_LIBRARY_PATH: '${CODE}/lib:${OPT}/lib',
  };
  if (runtime === 'nodejs') {
    // Lambda's Node runtimes search layers' node_modules for bare require()s, then the task root
    // (Nimbus has no /var/runtime). Node reads NODE_PATH at start-up, so it is the generic
    // runtime's, not the function's: a pre-warmed runtime starts before it knows its function.
    const major = process.versions.node.split('.')[0]!;
    env.NODE_PATH = [
      `\${OPT}/nodejs/node${major}/node_modules`,
      '${OPT}/nodejs/node_modules',
      '${CODE}',
    ].join(':');
    // Leave room for Node's own ~40 MB outside the JS heap, so heap exhaustion is reported by V8
    // rather than by the kernel's OOM killer where possible.
    const heapMb = Math.max(16, Math.floor(memoryMb * 0.75) - 16);
    return {
      command: [process.execPath, `--max-old-space-size=${heapMb}`, '${RUNTIME}/node/bootstrap.js'],
      env,
      hostPaths: installPrefix(process.execPath),
    };
  }
  python ??= findPython();
  return {
    command: [python, '-S', '-B', '${RUNTIME}/python/bootstrap.py'],
    env: { ...env, PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' },
    hostPaths: installPrefix(python),
  };
}
