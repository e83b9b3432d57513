/**
 * What the benchmark knows about the machine and about a process tree: CPU model and count, memory,
 * Node version, kernel, load; the descendants of a process (from /proc) with their RSS and PSS; and
 * the memory of the cgroups those descendants run in (cgroup v1 `memory.usage_in_bytes` or v2
 * `memory.current`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cpuCount: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  date: string;
  loadAverage: number[];
  cgroup: 'v1' | 'v2' | 'none';
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function cgroupVersion(): 'v1' | 'v2' | 'none' {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'v2';
  if (existsSync('/sys/fs/cgroup/memory/memory.usage_in_bytes')) return 'v1';
  return 'none';
}

export function machineInfo(): MachineInfo {
  const cpuinfo = readText('/proc/cpuinfo') ?? '';
  const models = [...cpuinfo.matchAll(/^model name\s*:\s*(.+)$/gm)].map((m) => (m[1] ?? '').trim());
  const processors = [...cpuinfo.matchAll(/^processor\s*:/gm)].length;
  const memKb = Number((readText('/proc/meminfo') ?? '').match(/^MemTotal:\s+(\d+)/m)?.[1] ?? Number.NaN);
  return {
    cpuModel: models[0] ?? cpus()[0]?.model ?? 'unknown',
    cpuCount: processors || cpus().length,
    memoryGiB: Math.round(((Number.isFinite(memKb) ? memKb * 1024 : totalmem()) / 1024 ** 3) * 10) / 10,
    node: process.version,
    kernel: release(),
    date: new Date().toISOString(),
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    cgroup: cgroupVersion(),
  };
}

interface ProcInfo {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, identifies the process. */
  start: number;
  /** R, S, D, Z (zombie: already dead, waiting to be reaped), ... */
  state: string;
}

function procStat(pid: number): ProcInfo | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name may contain spaces and parentheses: the fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pid, ppid: Number(fields[1]), start: Number(fields[19]), state: fields[0] ?? '?' };
}

/** Every live descendant of `root` (not `root` itself). */
export function descendants(root: number): ProcInfo[] {
  const all: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = procStat(Number(entry));
    if (info) all.push(info);
  }
  const byParent = new Map<number, ProcInfo[]>();
  for (const p of all) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
  const out: ProcInfo[] = [];
  const queue = [root];
  // Bounded: a pid can only be visited once.
  const seen = new Set<number>([root]);
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const child of byParent.get(pid) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/** The given processes that are still the same live processes (pid and start time match, not zombies). */
function stillAlive(procs: ProcInfo[]): ProcInfo[] {
  return procs.filter((p) => {
    const now = procStat(p.pid);
    return now !== undefined && now.start === p.start && now.state !== 'Z';
  });
}

/**
 * Waits up to `graceMs` for the given processes to end by themselves, then SIGKILLs those still
 * alive (same pid and start time, not zombies); returns how many it killed.
 */
export async function killLeftovers(procs: ProcInfo[], graceMs = 2000): Promise<number> {
  const deadline = Date.now() + graceMs;
  let alive = stillAlive(procs);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    alive = stillAlive(alive);
  }
  let killed = 0;
  for (const p of alive) {
    try {
      process.kill(p.pid, 'SIGKILL');
      killed++;
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}

/** Resident and proportional set size of one process in bytes (0 when it is gone). */
export function processMemory(pid: number): { rss: number; pss: number } {
  const rollup = readText(`/proc/${pid}/smaps_rollup`);
  const kb = (key: string, text: string | undefined): number =>
    Number(text?.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0) * 1024;
  if (rollup) return { rss: kb('Rss', rollup), pss: kb('Pss', rollup) };
  const status = readText(`/proc/${pid}/status`);
  const rss = kb('VmRSS', status);
  return { rss, pss: rss };
}

/** The memory cgroup directory a process is in, as a path under /sys/fs/cgroup. */
function memoryCgroupDir(pid: number): string | undefined {
  const text = readText(`/proc/${pid}/cgroup`);
  if (!text) return undefined;
  for (const line of text.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined || controllers === undefined) continue;
    if (controllers.split(',').includes('memory')) return `/sys/fs/cgroup/memory${path}`;
    if (controllers === '' && cgroupVersion() === 'v2') return `/sys/fs/cgroup${path}`;
  }
  return undefined;
}

function cgroupUsage(dir: string): number | undefined {
  const text = readText(`${dir}/memory.usage_in_bytes`) ?? readText(`${dir}/memory.current`);
  return text === undefined ? undefined : Number(text.trim());
}

export interface TreeMemory {
  processes: number;
  /** Sum of RSS over the descendants (counts shared pages once per process). */
  rssBytes: number;
  /** Sum of PSS over the descendants (shared pages split between their users). */
  pssBytes: number;
  /** Distinct cgroups below a `nimbus` group holding the descendants, and their summed usage. */
  cgroups: number;
  cgroupBytes: number | undefined;
  /** RSS and PSS of the root process itself. */
  rootRssBytes: number;
  rootPssBytes: number;
}

export function treeMemory(root: number): TreeMemory {
  const procs = descendants(root);
  let rssBytes = 0;
  let pssBytes = 0;
  const groups = new Set<string>();
  for (const p of procs) {
    const m = processMemory(p.pid);
    rssBytes += m.rss;
    pssBytes += m.pss;
    const dir = memoryCgroupDir(p.pid);
    const group = dir?.match(/^(.*\/nimbus\/[^/]+)/)?.[1];
    if (group) groups.add(group);
  }
  let cgroupBytes: number | undefined;
  for (const dir of groups) {
    const usage = cgroupUsage(dir);
    if (usage !== undefined) cgroupBytes = (cgroupBytes ?? 0) + usage;
  }
  const own = processMemory(root);
  return {
    processes: procs.length,
    rssBytes,
    pssBytes,
    cgroups: groups.size,
    cgroupBytes,
    rootRssBytes: own.rss,
    rootPssBytes: own.pss,
  };
}

/** Usage of the shared `nimbus` parent cgroup (all Nimbus servers on this host), if there is one. */
export function nimbusParentCgroupBytes(): number | undefined {
  return cgroupUsage('/sys/fs/cgroup/memory/nimbus') ?? cgroupUsage('/sys/fs/cgroup/nimbus');
}

function cpuTimes(): { busy: number; total: number } {
  const line = (readText('/proc/stat') ?? '').split('\n').find((l) => l.startsWith('cpu ')) ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Share of all CPUs (0..1) that was busy over the next `ms` milliseconds: other work on the machine shows here. */
export async function cpuBusy(ms: number): Promise<number> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : Number.NaN;
}
