/**
 * The benchmark's result shape (written as JSON) and its Markdown rendering: machine, warm
 * throughput and latency beside the baselines (one table per warm mode: shared CPUs, pinned),
 * cold starts, scale, burst, and the targets with pass/fail marks.
 */
import type { Runtime } from './nimbus.js';
import { round, type Summary } from './stats.js';
import type { MachineInfo, TreeMemory } from './system.js';
import type { WrkResult } from './wrk.js';

/**
 * How a warm run places its processes. `shared`: nothing pinned, the server under test and wrk share
 * every CPU (the machine as a whole; the targets use this mode). `pinned`: the server under test
 * (with all its sandboxes and threads) on one CPU, wrk on another (CPU efficiency).
 */
export type WarmMode = 'shared' | 'pinned';

export const WARM_MODES: readonly WarmMode[] = ['shared', 'pinned'];

export interface Settings {
  warmupSec: number;
  /** Seconds per warm measurement (one connection count of one target in one round). */
  durationSec: number;
  rounds: number;
  /** Back-to-back pairs (bare node:http, then the Nimbus target, order alternating) behind the throughput target. */
  pairedRounds: number;
  /** Connection counts measured in each warm mode. */
  connections: Record<WarmMode, number[]>;
  coldFunctions: number;
  coldPauseMs: number;
  /** The pre-warm settings of the `sized` cold-start runs, as flags. */
  coldSizedPool: string;
  scaleFunctions: number;
  burstCalls: number;
  /** True when taskset works and there are at least 2 CPUs, i.e. the pinned warm mode runs. */
  pinned: boolean;
  /** CPUs of the pinned warm mode: the server under test, and wrk. */
  serverCpu: number;
  clientCpu: number;
  quick: boolean;
}

export interface PairedRatio {
  target: string;
  connections: number;
  /** Nimbus req/s ÷ bare req/s of each pair, in order. */
  ratios: number[];
  median: number;
  bareRequestsPerSec: number[];
  nimbusRequestsPerSec: number[];
}

export interface WarmCell {
  mode: WarmMode;
  target: string;
  label: string;
  connections: number;
  /** Medians over the rounds. */
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** requests/s divided by bare node:http's in the same mode at the same connection count. */
  ratioToNodeHttp: number | null;
  errors: number;
  rounds: WrkResult[];
}

export type ColdPool = 'default' | 'sized';

export interface ColdResult {
  runtime: Runtime;
  variant: 'spaced' | 'back-to-back';
  /** `default`: the server's default pre-warmed pool; `sized`: a pool configured for a 50-deploy burst. */
  pool: ColdPool;
  pauseMs: number;
  functions: number;
  succeeded: number;
  /** Client-side wall time of each function's first invocation. */
  latencyMs: Summary;
  /** Executions whose record says `coldStart: true`, of those whose record could be read. */
  coldConfirmed: number;
  recordsRead: number;
  serverDurationMs: Summary;
  deployMs: Summary;
  failures: string[];
}

export interface ScaleResult {
  runtime: Runtime;
  functions: number;
  deploySec: number;
  firstInvokeSec: number;
  totalSec: number;
  succeeded: number;
  instances: number | null;
  /** How many of the functions hold a live instance after the first calls. */
  warmHeld: number | null;
  /** Instances the server stopped to stay within its memory budget (`/v1/stats`). */
  evictions: number | null;
  /** Second calls of each function that were warm (record `coldStart: false`), of those recorded. */
  warmOnSecondCall: number;
  secondCallsRecorded: number;
  /** Pre-warmed spare sandboxes (from `/v1/stats`, when it exists): their memory is in the sums too. */
  spares: number | null;
  memory: TreeMemory;
  serverIdleRssBytes: number;
  /** Sandboxes (cgroup sum, or RSS sum without cgroups) plus the server's own RSS. */
  totalBytes: number;
  basis: 'cgroups' | 'rss';
  nimbusParentCgroupBytes: { before: number | null; after: number | null };
  failures: string[];
}

export interface BurstResult {
  runtime: Runtime;
  calls: number;
  succeeded: number;
  allAnsweredMs: number;
  latencyMs: Summary;
  coldStarts: number;
  recordsRead: number;
  failures: string[];
}

export interface Target {
  name: string;
  measured: string;
  /** null: not measured, or (with `informational`) shown for comparison only. */
  pass: boolean | null;
  informational?: boolean;
}

export interface Results {
  startedAt: string;
  durationSec: number;
  machine: MachineInfo;
  /** Other work on the machine shows here: compare with the load at start in `machine`. */
  loadAverageEnd: number[];
  /** Share of all CPUs busy during one second before the run started, and after it ended. */
  cpuBusyBefore: number;
  cpuBusyAfter: number;
  settings: Settings;
  notes: string[];
  warm: WarmCell[];
  /** The throughput target's own measurement: ratios of back-to-back pairs, so drift of the machine cancels out. */
  paired: PairedRatio | null;
  cold: ColdResult[];
  scale: ScaleResult | null;
  burst: BurstResult[];
  /** `/v1/doctor` and, when the server has it, `/v1/stats`, per phase. */
  serverViews: Record<string, { doctor?: unknown; stats?: unknown }>;
  targets: Target[];
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function fmt(value: number | null | undefined, decimals = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  return round(value, decimals).toFixed(decimals);
}

function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  return value >= GiB ? `${fmt(value / GiB, 2)} GiB` : `${fmt(value / MiB, 1)} MiB`;
}

/** A Markdown table; columns holding only numbers (or n/a, ratios, percentages) are right-aligned. */
function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const numeric = (i: number): boolean =>
    rows.length > 0 && rows.every((row) => /^([\d.]+%?|\d+\/\d+|n\/a|)$/.test(row[i] ?? ''));
  const rule = head.map((_, i) => (numeric(i) ? '---:' : '---'));
  return [line(head), line(rule), ...rows.map(line)].join('\n');
}

function mark(target: Target): string {
  if (target.informational) return '– informational';
  if (target.pass === null) return '– not measured';
  return target.pass ? '✅ pass' : '❌ fail';
}

function list(values: readonly number[]): string {
  return values.length <= 1
    ? values.join('')
    : `${values.slice(0, -1).join(', ')} and ${values[values.length - 1]}`;
}

/** How a warm mode was run, for the heading's description line. */
function modeDescription(mode: WarmMode, s: Settings, cpuCount: number): string {
  const conns = `at ${list(s.connections[mode])} connections`;
  return mode === 'shared'
    ? `Nothing pinned: the server under test (Nimbus with all its sandboxes and threads) and wrk share ` +
        `all ${cpuCount} CPUs, as on the machine as a whole; ${conns}. The targets use this mode.`
    : `Pinned with taskset: the server under test (bare node:http, workerd, or Nimbus with all its sandboxes ` +
        `and threads) on CPU ${s.serverCpu}, wrk on CPU ${s.clientCpu}; ${conns}. Shows CPU efficiency: ` +
        'throughput per server CPU.';
}

function warmTable(cells: WarmCell[]): string {
  return table(
    ['target', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'vs node:http', 'errors'],
    cells.map((c) => [
      c.label,
      String(c.connections),
      fmt(c.requestsPerSec, 0),
      fmt(c.p50Ms, 3),
      fmt(c.p99Ms, 3),
      c.ratioToNodeHttp === null ? '' : `${fmt(c.ratioToNodeHttp * 100, 0)}%`,
      String(c.errors),
    ]),
  );
}

export function renderMarkdown(r: Results): string {
  const m = r.machine;
  const s = r.settings;
  const out: string[] = [];
  out.push(`# Nimbus benchmark, ${r.startedAt}`);
  out.push('');
  out.push(
    `Machine: ${m.cpuModel}, ${m.cpuCount} CPUs, ${m.memoryGiB} GiB RAM, Node ${m.node}, Linux ${m.kernel}, ` +
      `cgroup ${m.cgroup}, load average ${m.loadAverage.join(' / ')} at start and ` +
      `${r.loadAverageEnd.join(' / ')} at the end; CPUs busy ${fmt(r.cpuBusyBefore * 100, 0)}% in the second before and ` +
      `${fmt(r.cpuBusyAfter * 100, 0)}% in the second after the run. Run took ${fmt(r.durationSec / 60, 1)} min` +
      (s.quick ? ' (**--quick**: shortened, not comparable)' : '') +
      '.',
  );
  out.push('');
  for (const note of r.notes) out.push(`- ${note}`);
  out.push('');

  out.push('## Warm invoke (hello world, `POST {}`)');
  out.push('');
  out.push(
    `wrk, 1 thread, per target and round a ${s.warmupSec} s warm-up at the mode's highest connection count, ` +
      `then ${s.durationSec} s per connection count; median of ${s.rounds} round(s). Nimbus functions are ` +
      'pre-warmed with as many concurrent calls as the highest connection count. Each mode starts its own ' +
      'servers. Ratio = req/s ÷ bare `node:http` in the same mode at the same connections.',
  );
  out.push('');
  for (const mode of WARM_MODES) {
    const cells = r.warm.filter((c) => c.mode === mode);
    out.push(`### ${mode === 'shared' ? 'Shared CPUs (primary)' : 'Pinned (CPU efficiency)'}`);
    out.push('');
    if (mode === 'pinned' && !s.pinned) {
      out.push('Skipped: taskset is missing or there are fewer than 2 CPUs.');
    } else {
      out.push(modeDescription(mode, s, m.cpuCount));
      out.push('');
      out.push(cells.length > 0 ? warmTable(cells) : 'No measurements (see the notes above).');
      if (mode === 'shared' && r.paired) {
        const p = r.paired;
        out.push('');
        out.push(
          `Back-to-back pairs at ${p.connections} connections (bare \`node:http\`, then ${p.target}; the order ` +
            `alternates), ${s.durationSec} s each: ` +
            p.ratios
              .map(
                (x, i) =>
                  `${Math.round(p.nimbusRequestsPerSec[i]!)}/${Math.round(p.bareRequestsPerSec[i]!)} = ${fmt(x * 100, 0)}%`,
              )
              .join(', ') +
            `; median **${fmt(p.median * 100, 0)}%** (the throughput target uses it).`,
        );
      }
    }
    out.push('');
  }

  if (r.cold.length > 0) {
    out.push('## Cold starts (first invoke of a freshly deployed function, timed by the client)');
    out.push('');
    out.push(
      table(
        [
          'pool',
          'runtime',
          'variant',
          'n ok',
          'p50 ms',
          'p90 ms',
          'p99 ms',
          'max ms',
          'coldStart in record',
          'server p50 ms',
        ],
        r.cold.map((c) => [
          c.pool === 'sized' ? `sized (${s.coldSizedPool})` : 'default',
          c.runtime,
          c.variant === 'spaced' ? `spaced ${c.pauseMs} ms` : 'back-to-back',
          `${c.succeeded}/${c.functions}`,
          fmt(c.latencyMs.p50),
          fmt(c.latencyMs.p90),
          fmt(c.latencyMs.p99),
          fmt(c.latencyMs.max),
          `${c.coldConfirmed}/${c.recordsRead}`,
          fmt(c.serverDurationMs.p50),
        ]),
      ),
    );
    out.push('');
  }

  if (r.scale) {
    const sc = r.scale;
    out.push(`## Scale: ${sc.functions} ${sc.runtime} functions, one warm instance each`);
    out.push('');
    out.push(
      'Deployed and called once each, one after another; memory measured 1 s after the last first call; ' +
        'then each is called again to check it stayed warm.',
    );
    out.push('');
    out.push(
      table(
        ['measure', 'value'],
        [
          ['deploy all (sequential)', `${fmt(sc.deploySec)} s`],
          ['first invoke of each (sequential)', `${fmt(sc.firstInvokeSec)} s`],
          ['total', `${fmt(sc.totalSec)} s`],
          ['invocations ok', `${sc.succeeded}/${sc.functions}`],
          ['live instances (`/v1/doctor`)', sc.instances === null ? 'n/a' : String(sc.instances)],
          [
            'functions holding a warm instance',
            sc.warmHeld === null ? 'n/a' : `${sc.warmHeld}/${sc.functions}`,
          ],
          [
            'instances evicted for the memory budget (`/v1/stats`)',
            sc.evictions === null ? 'n/a' : String(sc.evictions),
          ],
          ['second call of each was warm', `${sc.warmOnSecondCall}/${sc.secondCallsRecorded}`],
          ['pre-warmed spares (`/v1/stats`), included below', sc.spares === null ? 'n/a' : String(sc.spares)],
          ['sandbox processes', String(sc.memory.processes)],
          [
            'sandbox cgroups: summed memory usage',
            `${bytes(sc.memory.cgroupBytes)} (${sc.memory.cgroups} groups)`,
          ],
          [
            'sandbox processes: summed RSS / PSS',
            `${bytes(sc.memory.rssBytes)} / ${bytes(sc.memory.pssBytes)}`,
          ],
          [
            `server RSS (idle → with ${sc.functions} functions)`,
            `${bytes(sc.serverIdleRssBytes)} → ${bytes(sc.memory.rootRssBytes)}`,
          ],
          [`total (${sc.basis === 'cgroups' ? 'cgroups' : 'RSS'} + server RSS)`, bytes(sc.totalBytes)],
          [
            'per warm instance',
            bytes(sc.totalBytes / Math.max(1, sc.instances ?? sc.warmHeld ?? sc.functions)),
          ],
        ],
      ),
    );
    out.push('');
  }

  if (r.burst.length > 0) {
    out.push('## Burst: 0 → N concurrent calls on one freshly deployed function');
    out.push('');
    out.push(
      table(
        ['runtime', 'calls ok', 'all answered ms', 'p50 ms', 'p99 ms', 'cold starts'],
        r.burst.map((b) => [
          b.runtime,
          `${b.succeeded}/${b.calls}`,
          fmt(b.allAnsweredMs, 1),
          fmt(b.latencyMs.p50, 1),
          fmt(b.latencyMs.p99, 1),
          `${b.coldStarts}/${b.recordsRead}`,
        ]),
      ),
    );
    out.push('');
  }

  out.push('## Targets (issue 3)');
  out.push('');
  out.push(
    table(
      ['target', 'measured', 'result'],
      r.targets.map((t) => [t.name, t.measured, mark(t)]),
    ),
  );
  out.push('');
  return out.join('\n');
}
