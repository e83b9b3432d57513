/**
 * The runtimes of the host drivers (bubblewrap, plain process): the host's own interpreters,
 * resolved once to real binaries (not shell shims, which cost 100+ ms a start), started with the
 * bootstraps under the runtime directory and the function's code in per-instance slots. A driver
 * whose sandboxes bring their own interpreter and root file system (runc) needs none of this.
 *
 * `HostRuntimes.start` turns the engine's request ("runtime R, memory M, limits L") into a host
 * command line (`HostSandboxSpec`) for the driver, and gives the process it gets back `loadCode`,
 * which fills the slots; the slots go when the process exits.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RUNTIME_BASE_ENV, type Runtime } from '../core/function.js';
import type { FunctionCode, SandboxProcess, SandboxRequest } from '../core/ports.js';
import type { HostSandboxProcess, HostSandboxSpec } from './child-sandbox.js';
import { CodeSlots } from './code-slots.js';

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
 * The Lambda-style name of the host interpreter functions of `runtime` run on: `python3.11` (from
 * the resolved binary's name, `python3` when it names no minor version) or `nodejs20.x`.
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
 * The command and base environment of a generic runtime process of one shape (runtime and memory).
 * `${CODE}`, `${OPT}` and `${RUNTIME}` stand for where the driver puts the code, the layers and
 * the runtime bootstraps.
 */
export function runtimeCommand(runtime: Runtime, memoryMb: number): RuntimeCommand {
  const env: Record<string, string> = {
    ...RUNTIME_BASE_ENV,
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

/** Where the host drivers find the runtime bootstraps and make code slots, under a data dir. */
export function hostRuntimeDirs(dataDir: string): { runtimeDir: string; slotsDir: string } {
  return { runtimeDir: join(dataDir, 'runtime'), slotsDir: join(dataDir, 'slots') };
}

/** Starts host-interpreter runtimes through a driver's command-line spawn; one per driver. */
export class HostRuntimes {
  private readonly slots: CodeSlots;

  constructor(
    /** Host directory holding the runtime bootstraps, mounted at /nimbus/runtime. */
    private readonly runtimeDir: string,
    slotsDir: string,
  ) {
    this.slots = new CodeSlots(slotsDir);
  }

  runtimeVersion(runtime: Runtime): string {
    return runtimeVersionName(runtime);
  }

  /** Starts a generic runtime with empty code slots through `spawn`; its slots go when it exits. */
  async start(
    request: SandboxRequest,
    spawn: (spec: HostSandboxSpec) => Promise<HostSandboxProcess>,
  ): Promise<SandboxProcess> {
    const rt = runtimeCommand(request.runtime, request.memoryMb);
    let codeSlot: string | undefined;
    let optSlot: string | undefined;
    let sandbox: HostSandboxProcess;
    try {
      codeSlot = await this.slots.create(request.instanceId);
      optSlot = await this.slots.create(`${request.instanceId}.opt`);
      sandbox = await spawn({
        instanceId: request.instanceId,
        codeDir: codeSlot,
        optDir: optSlot,
        runtimeDir: this.runtimeDir,
        hostPaths: rt.hostPaths,
        command: rt.command,
        env: rt.env,
        memoryMb: request.memoryMb,
        maxProcesses: request.limits.maxProcesses,
        tmpSizeMb: request.limits.tmpSizeMb,
        background: request.background,
      });
    } catch (err) {
      if (codeSlot) await this.slots.remove(codeSlot);
      if (optSlot) await this.slots.remove(optSlot);
      throw err;
    }
    const slots = { code: codeSlot, opt: optSlot };
    void sandbox.exited.then(() =>
      Promise.all([this.slots.remove(slots.code), this.slots.remove(slots.opt)]),
    );
    return {
      ...sandbox,
      loadCode: async (code: FunctionCode) => {
        await this.slots.fill(code.code, slots.code);
        if (code.layers) await this.slots.fill(code.layers, slots.opt);
      },
    };
  }

  /** Forgets what it remembered of code trees; sandboxes already started are not affected. */
  close(): void {
    this.slots.close();
  }
}
