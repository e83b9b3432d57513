/**
 * Keeps instances per function revision: hands out a warm idle instance when there is one, starts
 * a new sandbox when there is not (a cold start), takes instances back after use, replaces the ones
 * that died, and reaps those idle for too long. An instance only ever serves the revision
 * (code + configuration) it was started for.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ExecutionError } from '../core/execution.js';
import type { FunctionRecord } from '../core/function.js';
import type { SandboxDriver } from '../core/ports.js';
import { Instance, type LogSink } from './instance.js';
import type { PreparedCode } from './code-cache.js';
import { runtimeCommand } from './runtime-commands.js';

export interface PoolSettings {
  idleTimeoutMs: number;
  maxProcesses: number;
  tmpSizeMb: number;
  /** Host directory holding the runtime bootstraps, mounted at /nimbus/runtime. */
  runtimeDir: string;
}

export type Acquired = { instance: Instance; cold: boolean } | { error: ExecutionError };

/** Initialisation gets at least this long, even for functions with a shorter timeout. */
const MIN_INIT_TIMEOUT_MS = 10_000;

const revisions = new WeakMap<FunctionRecord, string>();

/** Identifies code plus configuration: a change to either means new instances. */
export function revisionOf(fn: FunctionRecord): string {
  let rev = revisions.get(fn);
  if (!rev) {
    const h = createHash('sha256');
    h.update(
      JSON.stringify([
        fn.codeSha256,
        fn.runtime,
        fn.handler,
        fn.memoryMb,
        fn.timeoutSec,
        fn.env,
        fn.version,
        fn.updatedAt,
      ]),
    );
    rev = `${fn.name}:${h.digest('hex').slice(0, 16)}`;
    revisions.set(fn, rev);
  }
  return rev;
}

export class InstancePool {
  /** Idle instances per revision, most recently used last. */
  private readonly idle = new Map<string, Instance[]>();
  private readonly all = new Set<Instance>();
  private readonly reaper: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly driver: SandboxDriver,
    private readonly settings: PoolSettings,
  ) {
    this.reaper = setInterval(
      () => this.reapIdle(Date.now()),
      Math.min(1000, settings.idleTimeoutMs),
    ).unref();
  }

  /** A warm instance of the function, or a newly started one; `log` receives init output. */
  async acquire(fn: FunctionRecord, code: PreparedCode, log: LogSink): Promise<Acquired> {
    const revision = revisionOf(fn);
    const warm = this.idle.get(revision);
    while (warm && warm.length > 0) {
      const instance = warm.pop()!;
      if (instance.isAlive) return { instance, cold: false };
    }
    return this.start(fn, revision, code, log);
  }

  /** Gives an instance back after an invocation that left it healthy. */
  release(instance: Instance): void {
    if (!instance.isAlive || this.closed || this.retired.has(instance.revision)) {
      void this.discard(instance);
      return;
    }
    const list = this.idle.get(instance.revision) ?? [];
    list.push(instance);
    this.idle.set(instance.revision, list);
  }

  /** Kills an instance that must not serve again (timed out, crashed, or retired). */
  async discard(instance: Instance): Promise<void> {
    this.removeIdle(instance);
    this.all.delete(instance);
    await instance.kill();
  }

  private readonly retired = new Set<string>();

  /** Stops the idle instances of a function now; busy ones stop when they finish. */
  async retireFunction(name: string): Promise<void> {
    const prefix = `${name}:`;
    const doomed: Promise<void>[] = [];
    for (const instance of this.all) {
      if (!instance.revision.startsWith(prefix)) continue;
      this.retired.add(instance.revision);
      if (instance.inFlight === 0) doomed.push(this.discard(instance));
    }
    await Promise.all(doomed);
  }

  /** Counts for `nimbus doctor`, tests and, later, metrics. */
  stats(): { instances: number; idle: number } {
    let idle = 0;
    for (const list of this.idle.values()) idle += list.length;
    return { instances: this.all.size, idle };
  }

  instancesOf(name: string): number {
    let n = 0;
    for (const instance of this.all) if (instance.revision.startsWith(`${name}:`) && instance.isAlive) n++;
    return n;
  }

  reapIdle(now: number): void {
    for (const [revision, list] of this.idle) {
      const keep = list.filter((i) => i.isAlive && now - i.lastUsedAt < this.settings.idleTimeoutMs);
      for (const instance of list) if (!keep.includes(instance)) void this.discard(instance);
      if (keep.length > 0) this.idle.set(revision, keep);
      else this.idle.delete(revision);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    await Promise.all([...this.all].map((i) => this.discard(i)));
  }

  private async start(
    fn: FunctionRecord,
    revision: string,
    code: PreparedCode,
    log: LogSink,
  ): Promise<Acquired> {
    const id = `i-${randomUUID()}`;
    const rt = runtimeCommand(fn);
    let sandbox;
    try {
      sandbox = await this.driver.spawn({
        instanceId: id,
        codeDir: code.dir,
        runtimeDir: this.settings.runtimeDir,
        hostPaths: rt.hostPaths,
        command: rt.command,
        env: rt.env,
        memoryMb: fn.memoryMb,
        maxProcesses: this.settings.maxProcesses,
        tmpSizeMb: this.settings.tmpSizeMb,
      });
    } catch (err) {
      return {
        error: { type: 'PlatformError', message: `could not start a sandbox: ${(err as Error).message}` },
      };
    }
    const instance = new Instance(id, revision, sandbox);
    this.all.add(instance);
    void instance.exited.then(() => {
      this.all.delete(instance);
      this.removeIdle(instance);
    });
    const error = await instance.initialize(
      {
        functionName: fn.name,
        functionVersion: fn.version,
        handler: fn.handler,
        entry: code.entry,
        memoryMb: fn.memoryMb,
        timeoutSec: fn.timeoutSec,
      },
      Math.max(MIN_INIT_TIMEOUT_MS, fn.timeoutSec * 1000),
      log,
    );
    if (error) {
      await this.discard(instance);
      return { error };
    }
    return { instance, cold: true };
  }

  private removeIdle(instance: Instance): void {
    const list = this.idle.get(instance.revision);
    if (!list) return;
    const i = list.indexOf(instance);
    if (i >= 0) list.splice(i, 1);
  }
}
