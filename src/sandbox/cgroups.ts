/**
 * Control groups for sandbox instances: memory limit (with out-of-memory detection), process-count
 * limit, a CPU share and a CPU quota proportional to memory, and a freezer that stops an idle
 * instance entirely. Supports cgroup v2 (unified) and v1 (one hierarchy per controller). Every
 * instance gets its own group under a `nimbus` parent nested in the server's own cgroup (per
 * hierarchy, from /proc/self/cgroup), so a systemd slice or container limit covers the sandboxes
 * too; the parent is removed when the driver closes and nothing is left in it.
 *
 * cgroup v2 forbids processes in a group whose children have controllers enabled ("no internal
 * processes"). When the server's own group is not the root and holds processes (a systemd service
 * with `Delegate=yes`), those processes move into a `server` leaf beside `nimbus`; without that
 * right the parent falls back to the hierarchy root, and the report says so.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmdirSync,
  writeFileSync,
  writeSync,
  write as fsWrite,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { IsolationReport } from '../core/ports.js';

interface CgroupLimits {
  memoryBytes: number;
  maxProcesses: number;
  /** CPU weight and quota are derived from memory. */
  memoryMb: number;
  /** Start with the smallest CPU share (see InstanceCgroup.setBackground). */
  background: boolean;
}

export interface InstanceCgroup {
  /**
   * The cgroup.procs files a process is written to to join the group (one per v1 hierarchy). The
   * launcher writes them: the kernel may hold such a write for a whole RCU grace period (10+ ms
   * seen here), which must not stall the server's event loop.
   */
  readonly procsFiles: string[];
  /** The write (file, value) that thaws the group: for the launcher, should the server die. */
  readonly thawWrites: { file: string; value: string }[];
  /** Background: the smallest CPU share (a pre-warmed sandbox waiting); foreground: proportional to memory. */
  setBackground(background: boolean): void;
  /**
   * Caps the group's CPU time at its quota (cpuQuotaOf) for `concurrentCalls` call slots: from
   * then on it never runs faster than that, however many processes it has.
   */
  applyCpuQuota(concurrentCalls: number): void;
  /**
   * Stops (true) or restarts (false) every process of the group. Returns at once: the write to
   * the freezer happens off the event loop, in order, and freezing completes in the kernel after
   * it. No-op without a freezer.
   */
  setFrozen(frozen: boolean): void;
  /** True when the kernel's OOM killer fired inside this group. */
  outOfMemory(): boolean;
  /**
   * The most memory the group has used since it was made, in bytes (v2 `memory.peak`, v1
   * `memory.max_usage_in_bytes`); undefined when the kernel does not say (v2 before Linux 5.19).
   */
  peakMemoryBytes(): number | undefined;
  /** SIGKILLs every process of the group, thawing it so frozen processes die at once. */
  killAll(): void;
  remove(): Promise<void>;
}

/** Where the groups of sandboxes are made. */
interface CgroupPlacement {
  /** True when the parents are inside the server's own cgroup(s); false at the hierarchy root. */
  nested: boolean;
  /** The `nimbus` parent directory per hierarchy. */
  parents: string[];
  /** Why they are not nested, when they are not. */
  reason?: string;
}

export interface CgroupSupport {
  version: 'v2' | 'v1' | 'none';
  reason: string;
  /** Whether idle instances can be frozen (v1 freezer hierarchy, v2 cgroup.freeze). */
  freezer: boolean;
  placement: CgroupPlacement;
  create(instanceId: string, limits: CgroupLimits): InstanceCgroup;
  /** Removes the `nimbus` parents if no sandbox group is left in them (another server may share them). */
  release(): void;
}

/**
 * CPU as Lambda gives it: 1769 MB is one vCPU and smaller sizes get that fraction, but never less
 * than an eighth of a vCPU (Lambda's 128 MB would get 7%, which makes even a small call's
 * JSON parsing crawl). Enforced over the kernel's usual 100 ms periods, with a burst of one more
 * quota where the kernel offers it: a short call after an idle spell (most calls) runs unthrottled,
 * only sustained use is held to the quota.
 */
const CPU_QUOTA = { mbPerVcpu: 1769, minVcpu: 1 / 8, periodUs: 100_000 } as const;

/**
 * The CPU quota of an instance of `memoryMb` serving up to `concurrentCalls` calls at once, in
 * microseconds per CPU_QUOTA.periodUs: each call slot gets what its memory buys on Lambda, where
 * every concurrent call has an environment (and CPU) of its own; at most every CPU of the host.
 */
function cpuQuotaOf(memoryMb: number, concurrentCalls: number): number {
  const vcpus = Math.max(CPU_QUOTA.minVcpu, memoryMb / CPU_QUOTA.mbPerVcpu) * Math.max(1, concurrentCalls);
  return Math.round(Math.min(availableParallelism(), vcpus) * CPU_QUOTA.periodUs);
}

const ROOT = '/sys/fs/cgroup';

function write(file: string, value: string | number): void {
  writeFileSync(file, String(value));
}

function readKey(file: string, key: string): number {
  try {
    const line = readFileSync(file, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${key} `));
    return line ? Number(line.split(' ')[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Reads a counter file of a group (one number) after every call, cheaply: the file stays open and
 * each read is one pread (about 1 µs, against 13 µs for open, read and close each time). Closed
 * before the group is removed; reads after that (or of a missing file) give undefined.
 */
function counterReader(file: string): { read(): number | undefined; close(): void } {
  let fd: number | undefined;
  let closed = false;
  const buffer = Buffer.alloc(32);
  return {
    read() {
      if (closed) return undefined;
      try {
        fd ??= openSync(file, 'r');
        const n = readSync(fd, buffer, 0, buffer.length, 0);
        const value = Number(buffer.toString('latin1', 0, n).trim());
        return Number.isFinite(value) && n > 0 ? value : undefined;
      } catch {
        return undefined;
      }
    },
    close() {
      closed = true;
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/**
 * Keeps a group's freezer file in the state last asked for, writing off the event loop (a v1
 * freezer write takes about 200 µs here, sometimes milliseconds): one write in flight at a time,
 * so writes never land out of order, and the latest wish wins. A write while frozen is harmless
 * for the sandbox's channel: bytes wait in the kernel until the processes run again.
 * `thawNow` writes at once (before a kill: a frozen v1 process dies only once thawed).
 */
function freezerControl(file: string, frozenValue: string, thawedValue: string) {
  let fd: number | undefined;
  let closed = false;
  let wanted = false;
  let written = false;
  let writing = false;
  const open = (): number | undefined => {
    try {
      fd ??= openSync(file, 'w');
    } catch {
      closed = true; // the group is gone with its processes
    }
    return fd;
  };
  const flush = (): void => {
    if (closed || writing || wanted === written) return;
    const target = wanted;
    const handle = open();
    if (handle === undefined) return;
    writing = true;
    const bytes = Buffer.from(target ? frozenValue : thawedValue);
    fsWrite(handle, bytes, 0, bytes.length, 0, (err) => {
      writing = false;
      written = target;
      if (err) closed = true;
      if (closed) return release();
      flush();
    });
  };
  const release = (): void => {
    if (writing || fd === undefined) return;
    closeSync(fd);
    fd = undefined;
  };
  return {
    set(frozen: boolean): void {
      wanted = frozen;
      flush();
    },
    thawNow(): void {
      wanted = false;
      try {
        // After close (the group is being removed) through a fresh handle.
        if (closed || fd === undefined) write(file, thawedValue);
        else writeSync(fd, thawedValue, 0);
        written = false;
      } catch {
        // the group is gone with its processes
      }
    },
    close(): void {
      closed = true;
      release();
    },
  };
}

function pidsIn(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killPids(dirs: string[]): void {
  for (const dir of dirs) {
    for (const pid of pidsIn(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Removes groups, killing what is still inside (with `killAll`, which also thaws) until they are empty. */
async function removeDirs(dirs: string[], killAll: () => void): Promise<void> {
  for (const dir of dirs) {
    // A killed process leaves its group only once the kernel has reaped it.
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        if (existsSync(dir)) rmdirSync(dir);
        break;
      } catch {
        killAll();
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

/** Makes an instance's group; if its parent was removed meanwhile (another server released it), makes that again first. */
function makeGroup(dir: string, prepareParent: () => void): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    prepareParent();
    mkdirSync(dir);
  }
}

function removeParents(parents: string[]): void {
  for (const parent of parents) {
    try {
      rmdirSync(parent);
    } catch {
      // still in use (by another server in the same cgroup) or already gone
    }
  }
}

/** The server's own cgroup per v1 controller and in the v2 hierarchy (`0::`), from /proc/self/cgroup. */
function ownCgroups(): { v1: Map<string, string>; v2: string | undefined } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  let text = '';
  try {
    text = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    // not Linux, or /proc not mounted: the hierarchy roots it is
  }
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, controllers, path] = match as unknown as [string, string, string, string];
    if (id === '0' && controllers === '') v2 = path;
    else for (const controller of controllers.split(',')) v1.set(controller, path);
  }
  return { v1, v2 };
}

function cpuWeightV2(memoryMb: number): number {
  return Math.min(10_000, Math.max(1, Math.round((memoryMb / 1024) * 100)));
}

const V2_CONTROLLERS = ['memory', 'pids', 'cpu'];
/** The leaf the server's own processes move into when its v2 group must get children with controllers. */
const V2_SERVER_LEAF = 'nimbus-server';

function enableV2Controllers(dir: string): void {
  write(join(dir, 'cgroup.subtree_control'), V2_CONTROLLERS.map((c) => `+${c}`).join(' '));
}

/**
 * Makes `<anchor>/nimbus` with the controllers enabled for its children. In a non-root group that
 * holds processes, those move into a `nimbus-server` leaf first (v2's no-internal-processes rule);
 * a server already in that leaf anchors at the leaf's parent.
 */
function prepareV2Parent(anchor: string): string {
  const anchorDir = join(ROOT, anchor);
  const available = readFileSync(join(anchorDir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  for (const c of V2_CONTROLLERS) {
    if (!available.includes(c)) throw new Error(`controller ${c} is not available in ${anchorDir}`);
  }
  try {
    enableV2Controllers(anchorDir);
  } catch (err) {
    if (anchor === '/' || (err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
    const leaf = join(anchorDir, V2_SERVER_LEAF);
    mkdirSync(leaf, { recursive: true });
    for (const pid of pidsIn(anchorDir)) {
      try {
        write(join(leaf, 'cgroup.procs'), pid);
      } catch {
        // exited meanwhile
      }
    }
    enableV2Controllers(anchorDir);
  }
  const parent = join(anchorDir, 'nimbus');
  mkdirSync(parent, { recursive: true });
  enableV2Controllers(parent);
  return parent;
}

function detectV2(): CgroupSupport | undefined {
  if (!existsSync(join(ROOT, 'cgroup.controllers'))) return undefined;
  let own = ownCgroups().v2 ?? '/';
  if (basename(own) === V2_SERVER_LEAF) own = dirname(own);
  let parent: string;
  let placement: CgroupPlacement;
  try {
    parent = prepareV2Parent(own);
    placement = { nested: true, parents: [parent] };
  } catch (nestErr) {
    try {
      parent = prepareV2Parent('/');
    } catch (err) {
      return {
        version: 'none',
        reason: `cgroup v2 not writable: ${(err as Error).message}`,
        freezer: false,
        placement: { nested: false, parents: [] },
        create: unsupported,
        release: () => undefined,
      };
    }
    placement = {
      nested: false,
      parents: [parent],
      reason: `cannot nest under the server's cgroup ${own} (${(nestErr as Error).message}); with systemd, set Delegate=yes`,
    };
  }
  const freezer = existsSync(join(parent, 'cgroup.freeze'));
  const anchor = dirname(parent);
  return {
    version: 'v2',
    reason: 'cgroup v2',
    freezer,
    placement,
    release: () => removeParents([parent]),
    create(instanceId, limits) {
      const dir = join(parent, instanceId);
      makeGroup(dir, () => prepareV2Parent(anchor === ROOT ? '/' : anchor.slice(ROOT.length)));
      write(join(dir, 'memory.max'), limits.memoryBytes);
      if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), 0);
      write(join(dir, 'pids.max'), limits.maxProcesses);
      write(join(dir, 'cpu.weight'), limits.background ? 1 : cpuWeightV2(limits.memoryMb));
      const peak = counterReader(join(dir, 'memory.peak'));
      const freeze = freezerControl(join(dir, 'cgroup.freeze'), '1', '0');
      const killAll = () => {
        if (existsSync(join(dir, 'cgroup.kill'))) {
          try {
            // cgroup.kill takes frozen processes too.
            write(join(dir, 'cgroup.kill'), 1);
            return;
          } catch {
            // fall through to killing one by one
          }
        }
        killPids([dir]);
        if (freezer) freeze.thawNow();
      };
      return {
        procsFiles: [join(dir, 'cgroup.procs')],
        thawWrites: freezer ? [{ file: join(dir, 'cgroup.freeze'), value: '0' }] : [],
        peakMemoryBytes: () => peak.read(),
        setBackground: (background) =>
          write(join(dir, 'cpu.weight'), background ? 1 : cpuWeightV2(limits.memoryMb)),
        applyCpuQuota: (concurrentCalls) => {
          const quota = cpuQuotaOf(limits.memoryMb, concurrentCalls);
          write(join(dir, 'cpu.max'), `${quota} ${CPU_QUOTA.periodUs}`);
          if (existsSync(join(dir, 'cpu.max.burst'))) write(join(dir, 'cpu.max.burst'), quota);
        },
        setFrozen: (frozen) => {
          if (freezer) freeze.set(frozen);
        },
        outOfMemory: () => readKey(join(dir, 'memory.events'), 'oom_kill') > 0,
        killAll,
        remove: () => {
          peak.close();
          freeze.close();
          return removeDirs([dir], killAll);
        },
      };
    },
  };
}

/**
 * The `nimbus` parent of one v1 hierarchy: inside the server's own group of that hierarchy, or at
 * the root when that group is not visible in the mount (a container without a cgroup namespace).
 */
function v1Parent(mount: string, own: string | undefined): { dir: string; nestedIn?: string } {
  if (own === undefined || own === '/') return { dir: join(mount, 'nimbus') };
  if (existsSync(join(mount, own))) return { dir: join(mount, own, 'nimbus') };
  return { dir: join(mount, 'nimbus'), nestedIn: own };
}

function detectV1(): CgroupSupport {
  const required = ['memory', 'pids', 'cpu'] as const;
  const none = (reason: string): CgroupSupport => ({
    version: 'none',
    reason,
    freezer: false,
    placement: { nested: false, parents: [] },
    create: unsupported,
    release: () => undefined,
  });
  const missing = required.filter((c) => !existsSync(join(ROOT, c, 'cgroup.procs')));
  if (missing.length > 0) return none(`cgroup controllers not mounted: ${missing.join(', ')}`);
  const hasFreezer = existsSync(join(ROOT, 'freezer', 'cgroup.procs'));
  // cpuacct on a hierarchy of its own (not co-mounted with cpu) gets a group too, so an
  // instance's CPU time is accounted (cpuacct.usage) wherever it is mounted.
  const separateCpuacct =
    existsSync(join(ROOT, 'cpuacct', 'cgroup.procs')) && !existsSync(join(ROOT, 'cpu', 'cpuacct.usage'));
  const controllers = [
    ...required,
    ...(hasFreezer ? (['freezer'] as const) : []),
    ...(separateCpuacct ? (['cpuacct'] as const) : []),
  ];
  const own = ownCgroups().v1;
  const parents = new Map<string, string>();
  const notNested: string[] = [];
  for (const controller of controllers) {
    const { dir, nestedIn } = v1Parent(join(ROOT, controller), own.get(controller));
    parents.set(controller, dir);
    if (nestedIn) notNested.push(`${controller} (${nestedIn} is not visible)`);
  }
  const prepare = () => {
    for (const dir of parents.values()) mkdirSync(dir, { recursive: true });
  };
  try {
    prepare();
  } catch (err) {
    return none(`cgroup v1 not writable: ${(err as Error).message}`);
  }
  const parentOf = (controller: string) => parents.get(controller)!;
  return {
    version: 'v1',
    reason: 'cgroup v1',
    freezer: hasFreezer,
    placement: {
      nested: notNested.length === 0,
      parents: [...parents.values()],
      ...(notNested.length > 0
        ? { reason: `not nested under the server's own cgroup for ${notNested.join(', ')}` }
        : {}),
    },
    release: () => removeParents([...parents.values()]),
    create(instanceId, limits) {
      const memory = join(parentOf('memory'), instanceId);
      const pids = join(parentOf('pids'), instanceId);
      const cpu = join(parentOf('cpu'), instanceId);
      const freezerDir = hasFreezer ? join(parentOf('freezer'), instanceId) : undefined;
      const cpuacct = separateCpuacct ? join(parentOf('cpuacct'), instanceId) : undefined;
      const dirs = [memory, pids, cpu, ...(freezerDir ? [freezerDir] : []), ...(cpuacct ? [cpuacct] : [])];
      for (const dir of dirs) makeGroup(dir, prepare);
      write(join(memory, 'memory.limit_in_bytes'), limits.memoryBytes);
      // Without this the group could swap past its limit instead of being stopped.
      if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) {
        try {
          write(join(memory, 'memory.memsw.limit_in_bytes'), limits.memoryBytes);
        } catch {
          // swap accounting off: the memory limit alone applies
        }
      }
      write(join(pids, 'pids.max'), limits.maxProcesses);
      write(join(cpu, 'cpu.shares'), limits.background ? 2 : Math.max(2, limits.memoryMb));
      write(join(cpu, 'cpu.cfs_period_us'), CPU_QUOTA.periodUs);
      const peak = counterReader(join(memory, 'memory.max_usage_in_bytes'));
      const freezerState = freezerDir
        ? freezerControl(join(freezerDir, 'freezer.state'), 'FROZEN', 'THAWED')
        : undefined;
      const killAll = () => {
        killPids([memory]);
        // A frozen process dies of SIGKILL only once thawed; thawed after the signal, it runs no more code.
        freezerState?.thawNow();
      };
      return {
        setBackground: (background) =>
          write(join(cpu, 'cpu.shares'), background ? 2 : Math.max(2, limits.memoryMb)),
        applyCpuQuota: (concurrentCalls) => {
          try {
            const quota = cpuQuotaOf(limits.memoryMb, concurrentCalls);
            write(join(cpu, 'cpu.cfs_quota_us'), quota);
            if (existsSync(join(cpu, 'cpu.cfs_burst_us'))) write(join(cpu, 'cpu.cfs_burst_us'), quota);
          } catch {
            // v1 refuses a quota above the parent's: the server's own, smaller quota applies
          }
        },
        setFrozen: (frozen) => freezerState?.set(frozen),
        peakMemoryBytes: () => peak.read(),
        procsFiles: dirs.map((dir) => join(dir, 'cgroup.procs')),
        thawWrites: freezerDir ? [{ file: join(freezerDir, 'freezer.state'), value: 'THAWED' }] : [],
        outOfMemory: () =>
          readKey(join(memory, 'memory.oom_control'), 'oom_kill') > 0 ||
          Number(readFileSync(join(memory, 'memory.failcnt'), 'utf8')) > 0,
        killAll,
        remove: () => {
          peak.close();
          freezerState?.close();
          return removeDirs(dirs, killAll);
        },
      };
    },
  };
}

function unsupported(): never {
  throw new Error('cgroups are not available');
}

let detected: CgroupSupport | undefined;

/** Finds out once which cgroup version this host offers to this process, and where its groups go. */
export function detectCgroups(): CgroupSupport {
  detected ??= detectV2() ?? detectV1();
  return detected;
}

/** The cgroup part of a driver's IsolationReport; `warnings` name what is not in force. */
export function cgroupIsolation(
  cgroups: CgroupSupport,
): Pick<IsolationReport, 'cpuQuota' | 'freezer' | 'cgroupNesting'> & { warnings: string[] } {
  if (cgroups.version === 'none') {
    return {
      cpuQuota: 'none',
      freezer: 'none',
      cgroupNesting: { placement: 'none', parents: [] },
      warnings: [`${cgroups.reason}: CPU is not limited and idle instances are not frozen`],
    };
  }
  const enforced = `cgroup-${cgroups.version}` as const;
  const warnings: string[] = [];
  if (!cgroups.placement.nested && cgroups.placement.reason) warnings.push(cgroups.placement.reason);
  if (!cgroups.freezer)
    warnings.push(
      'no cgroup freezer: idle instances are not frozen, so processes they leave running use CPU',
    );
  return {
    cpuQuota: enforced,
    freezer: cgroups.freezer ? enforced : 'none',
    cgroupNesting: {
      placement: cgroups.placement.nested ? 'nested' : 'root',
      parents: cgroups.placement.parents,
    },
    warnings,
  };
}
