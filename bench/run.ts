/**
 * `npm run bench` (issue 3): one run, on this machine, of everything side by side. Warm throughput
 * and latency of the hello-world handler on bare `node:http`, on `workerd` and as Nimbus Node and
 * Python functions (instance concurrency 1 and 100), with wrk in two modes: shared (nothing pinned,
 * server and wrk share the CPUs; the targets use it) and pinned (server under test on CPU 0, wrk on
 * CPU 1, 50 connections); cold starts; 200 warm functions (time, memory); a 0 → 50 burst. Prints
 * a Markdown table, writes bench/results/<timestamp>.json, latest.json and latest.md. Everything
 * it starts is stopped at the end, on error and on Ctrl-C. `--quick` shortens every phase for a
 * smoke test.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { findWorkerd, startNodeHttp, startWorkerd, type RunningTarget } from './baselines.js';
import { keepAlive, request } from './http.js';
import {
  isHello,
  NimbusServer,
  stopAllNimbus,
  type FunctionSettings,
  type Invocation,
  type Runtime,
} from './nimbus.js';
import { canPin, killAllNow, sleep, stopAll } from './procs.js';
import {
  renderMarkdown,
  type BurstResult,
  type PairedRatio,
  type ColdPool,
  type ColdResult,
  type Results,
  type ScaleResult,
  type Settings,
  type Target,
  type WarmCell,
  type WarmMode,
  WARM_MODES,
} from './report.js';
import { median, summarize } from './stats.js';
import { cpuBusy, machineInfo, nimbusParentCgroupBytes, processMemory, treeMemory } from './system.js';
import { errorCount, runWrk, wrkAvailable, type WrkResult } from './wrk.js';

const distBench = dirname(fileURLToPath(import.meta.url));
const root = resolve(distBench, '..', '..');
const resultsDir = join(root, 'bench', 'results');

const SERVER_CPU = 0;
const CLIENT_CPU = 1;
/** The whole run is aborted (and everything stopped) after this long. */
const WATCHDOG_MS = 15 * 60_000;
const RUNTIMES: Runtime[] = ['nodejs', 'python3'];
/** Instance concurrency of the warm Nimbus functions: the default (1), and 100 (a common Node setting). */
const WARM_CONCURRENCY = [1, 100];

const quick = process.argv.includes('--quick');
/** The pre-warmed pool of the `sized` cold-start runs: enough ready sandboxes for a 50-deploy burst. */
const SIZED_POOL = { perRuntime: 56, max: 64 };
/** `--phases cold,burst` runs only those phases; such a partial run does not replace latest.*. */
const phasesArg = process.argv.indexOf('--phases');
const onlyPhases = phasesArg >= 0 ? new Set((process.argv[phasesArg + 1] ?? '').split(',')) : undefined;
const settings: Settings = {
  warmupSec: quick ? 1 : 2,
  durationSec: quick ? 2 : 4,
  rounds: quick ? 1 : 3,
  pairedRounds: quick ? 2 : 8,
  connections: { shared: [1, 10, 50], pinned: [50] },
  coldFunctions: quick ? 10 : 50,
  coldPauseMs: 20,
  coldSizedPool: `--prewarm-per-runtime ${SIZED_POOL.perRuntime} --prewarm-max ${SIZED_POOL.max}`,
  scaleFunctions: quick ? 20 : 200,
  burstCalls: 50,
  pinned: canPin(),
  serverCpu: SERVER_CPU,
  clientCpu: CLIENT_CPU,
  quick,
};

const started = performance.now();

function log(message: string): void {
  const s = Math.round((performance.now() - started) / 1000);
  process.stderr.write(
    `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${message}\n`,
  );
}

const short = (rt: Runtime): string => (rt === 'nodejs' ? 'node' : 'py');
const label = (rt: Runtime): string => (rt === 'nodejs' ? 'Node' : 'Python');

interface WarmTarget {
  /** node-http, workerd, nimbus-node, nimbus-node-c100, nimbus-py, nimbus-py-c100. */
  id: string;
  label: string;
  url: string;
  authorization?: string;
}

async function serverViews(server: NimbusServer): Promise<{ doctor?: unknown; stats?: unknown }> {
  const [doctor, stats] = await Promise.all([server.getJson('/v1/doctor'), server.getJson('/v1/stats')]);
  return { ...(doctor === undefined ? {} : { doctor }), ...(stats === undefined ? {} : { stats }) };
}

async function checkAnswers(target: WarmTarget): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (target.authorization) headers.authorization = target.authorization;
  const res = await request(target.url, { method: 'POST', headers, body: '{}', timeoutMs: 30_000 });
  if (res.status !== 200 || !isHello(res.body)) {
    throw new Error(`${target.label} answered ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
  }
}

async function warmPhase(results: Results): Promise<void> {
  if (!wrkAvailable()) {
    results.notes.push('warm throughput skipped: /usr/bin/wrk is missing (apt-get install wrk)');
    return;
  }
  for (const mode of WARM_MODES) {
    // Without taskset (or with one CPU) the pinned mode is skipped; the notes and its table say so.
    if (mode === 'pinned' && !settings.pinned) continue;
    await warmMode(results, mode);
  }
}

/** Nimbus function ids and labels for the warm runs: `nimbus-node`, `nimbus-node-c100`, ... */
const warmId = (rt: Runtime, concurrency: number): string =>
  `nimbus-${short(rt)}${concurrency === 1 ? '' : `-c${concurrency}`}`;
const warmLabel = (rt: Runtime, concurrency: number): string =>
  `Nimbus ${label(rt)}${concurrency === 1 ? '' : `, concurrency ${concurrency}`}`;

/**
 * The throughput target's measurement: `settings.pairedRounds` pairs of runs of bare node:http and
 * the Nimbus target back to back (which goes first alternates), each pair giving one ratio. This
 * machine's baseline drifts by half within minutes, so ratios of medians taken a minute apart
 * swing; a pair shares the machine's state.
 */
async function pairedRatio(
  bare: WarmTarget,
  nimbus: WarmTarget,
  connections: number,
): Promise<PairedRatio | null> {
  const measure = async (t: WarmTarget): Promise<number> => {
    const r = await runWrk(root, {
      url: t.url,
      authorization: t.authorization,
      connections,
      durationSec: settings.durationSec,
    });
    if (errorCount(r) > 0) throw new Error(`${errorCount(r)} errors from ${t.label}`);
    return r.requestsPerSec;
  };
  const paired: PairedRatio = {
    target: nimbus.id,
    connections,
    ratios: [],
    median: Number.NaN,
    bareRequestsPerSec: [],
    nimbusRequestsPerSec: [],
  };
  try {
    for (let round = 1; round <= settings.pairedRounds; round++) {
      let bareRps: number;
      let nimbusRps: number;
      if (round % 2 === 1) {
        bareRps = await measure(bare);
        nimbusRps = await measure(nimbus);
      } else {
        nimbusRps = await measure(nimbus);
        bareRps = await measure(bare);
      }
      paired.bareRequestsPerSec.push(bareRps);
      paired.nimbusRequestsPerSec.push(nimbusRps);
      paired.ratios.push(nimbusRps / bareRps);
      log(
        `paired ${round}/${settings.pairedRounds} c=${connections}: bare ${Math.round(bareRps)}, ` +
          `${nimbus.label} ${Math.round(nimbusRps)} req/s (${((nimbusRps / bareRps) * 100).toFixed(0)}%)`,
      );
    }
  } catch (err) {
    log(`paired rounds failed: ${(err as Error).message}`);
    return null;
  }
  paired.median = median(paired.ratios);
  return paired;
}

/**
 * One warm mode: starts its own baselines and Nimbus server (pinned to SERVER_CPU in the pinned
 * mode, with wrk on CLIENT_CPU), measures every target at the mode's connection counts for
 * `settings.rounds` rounds, pushes the median cells and stops everything it started.
 */
async function warmMode(results: Results, mode: WarmMode): Promise<void> {
  const cpu = mode === 'pinned' ? SERVER_CPU : undefined;
  const clientCpu = mode === 'pinned' ? CLIENT_CPU : undefined;
  const connectionCounts = settings.connections[mode];
  const maxConns = Math.max(...connectionCounts);
  const running: RunningTarget[] = [];
  let nimbus: NimbusServer | undefined;
  try {
    const targets: WarmTarget[] = [];
    const node = await startNodeHttp(distBench, cpu);
    running.push(node);
    targets.push({ id: 'node-http', label: 'bare node:http', url: node.url });

    const workerdBin = findWorkerd(root);
    if (!workerdBin) {
      if (mode === 'shared')
        results.notes.push('workerd baseline skipped: no workerd binary (`npm install --no-save workerd`)');
    } else {
      try {
        const workerd = await startWorkerd(workerdBin, cpu);
        running.push(workerd);
        targets.push({ id: 'workerd', label: 'workerd', url: workerd.url });
      } catch (err) {
        results.notes.push(`workerd baseline skipped (${mode}): ${(err as Error).message.slice(0, 300)}`);
      }
    }

    log(`warm ${mode}: starting Nimbus${cpu === undefined ? ' (unpinned)' : ` on CPU ${cpu}`}`);
    try {
      const server = await NimbusServer.start(root, { cpu });
      nimbus = server;
      for (const rt of RUNTIMES) {
        for (const concurrency of WARM_CONCURRENCY) {
          const id = warmId(rt, concurrency);
          const name = `warm-${id.slice('nimbus-'.length)}`;
          const functionSettings: FunctionSettings = concurrency === 1 ? {} : { concurrency };
          await server.deploy(name, rt, functionSettings);
          // As many concurrent calls as connections: every instance the measurement needs is started
          // now, so no measurement pays for a cold start.
          const calls = await Promise.all(Array.from({ length: maxConns }, () => server.invoke(name)));
          const ok = calls.filter((c) => c.ok).length;
          if (ok === 0) {
            results.notes.push(
              `${warmLabel(rt, concurrency)} warm (${mode}) skipped: invocations fail (${calls[0]?.error ?? ''})`,
            );
            continue;
          }
          log(`warm ${mode}: ${name} pre-warmed with ${ok}/${maxConns} concurrent calls`);
          targets.push({
            id,
            label: warmLabel(rt, concurrency),
            url: server.invokeUrl(name),
            authorization: server.authorization,
          });
        }
      }
    } catch (err) {
      log(`warm ${mode}: Nimbus failed: ${(err as Error).stack ?? String(err)}`);
      results.notes.push(`Nimbus warm runs (${mode}) skipped: ${(err as Error).message.slice(0, 500)}`);
      process.exitCode = 1;
    }
    for (const t of targets) await checkAnswers(t);

    const raw = new Map<string, WrkResult[]>();
    for (let round = 1; round <= settings.rounds; round++) {
      for (const t of targets) {
        const base = { url: t.url, authorization: t.authorization, cpu: clientCpu };
        await runWrk(root, { ...base, connections: maxConns, durationSec: settings.warmupSec }).catch(
          (err: unknown) => log(`warm-up of ${t.label} (${mode}) failed: ${(err as Error).message}`),
        );
        for (const connections of connectionCounts) {
          let r: WrkResult;
          try {
            r = await runWrk(root, { ...base, connections, durationSec: settings.durationSec });
          } catch (err) {
            const message = `wrk on ${t.label} (${mode}) at ${connections} connections failed in round ${round}: ${(err as Error).message}`;
            log(message);
            results.notes.push(message.slice(0, 500));
            continue;
          }
          const key = `${t.id}/${connections}`;
          raw.set(key, [...(raw.get(key) ?? []), r]);
          log(
            `warm ${mode} round ${round}/${settings.rounds} ${t.label} c=${connections}: ${Math.round(r.requestsPerSec)} req/s, ` +
              `p50 ${(r.latencyUs.p50 / 1000).toFixed(3)} ms, p99 ${(r.latencyUs.p99 / 1000).toFixed(3)} ms` +
              (errorCount(r) > 0 ? `, ${errorCount(r)} errors` : ''),
          );
        }
      }
    }

    if (mode === 'shared') {
      const bare = targets.find((t) => t.id === 'node-http');
      const nimbusNode = targets.find((t) => t.id === warmId('nodejs', 100));
      if (bare && nimbusNode) results.paired = await pairedRatio(bare, nimbusNode, maxConns);
    }

    const cells: WarmCell[] = [];
    for (const t of targets) {
      for (const connections of connectionCounts) {
        const rounds = raw.get(`${t.id}/${connections}`) ?? [];
        cells.push({
          mode,
          target: t.id,
          label: t.label,
          connections,
          requestsPerSec: median(rounds.map((r) => r.requestsPerSec)),
          p50Ms: median(rounds.map((r) => r.latencyUs.p50 / 1000)),
          p99Ms: median(rounds.map((r) => r.latencyUs.p99 / 1000)),
          ratioToNodeHttp: null,
          errors: rounds.reduce((n, r) => n + errorCount(r), 0),
          rounds,
        });
      }
    }
    for (const cell of cells) {
      const bare = cells.find((c) => c.target === 'node-http' && c.connections === cell.connections);
      if (bare && cell.target !== 'node-http')
        cell.ratioToNodeHttp = cell.requestsPerSec / bare.requestsPerSec;
    }
    results.warm.push(...cells);
    if (nimbus) results.serverViews[`warm-${mode}`] = await serverViews(nimbus);
  } finally {
    await nimbus?.stop();
    await Promise.all(running.map((r) => r.stop()));
  }
}

async function readRecords(
  server: NimbusServer,
  calls: Invocation[],
): Promise<{ read: number; cold: number; durations: number[] }> {
  let read = 0;
  let cold = 0;
  const durations: number[] = [];
  for (const call of calls) {
    if (!call.executionId) continue;
    const record = await server.execution(call.executionId);
    if (!record) continue;
    read++;
    if (record.coldStart) cold++;
    if (record.durationMs !== null) durations.push(record.durationMs);
  }
  return { read, cold, durations };
}

async function coldRun(
  server: NimbusServer,
  rt: Runtime,
  variant: ColdResult['variant'],
  pool: ColdPool,
): Promise<ColdResult> {
  const names = Array.from(
    { length: settings.coldFunctions },
    (_, i) => `cold-${pool}-${short(rt)}-${variant === 'spaced' ? 's' : 'b'}-${i}`,
  );
  const deployMs: number[] = [];
  const calls: Invocation[] = [];
  if (variant === 'back-to-back') for (const name of names) deployMs.push(await server.deploy(name, rt));
  for (const name of names) {
    if (variant === 'spaced') {
      deployMs.push(await server.deploy(name, rt));
      await sleep(settings.coldPauseMs);
    }
    calls.push(await server.invoke(name));
  }
  const records = await readRecords(server, calls);
  for (const name of names) await server.remove(name);
  const ok = calls.filter((c) => c.ok);
  const result: ColdResult = {
    runtime: rt,
    variant,
    pool,
    pauseMs: variant === 'spaced' ? settings.coldPauseMs : 0,
    functions: names.length,
    succeeded: ok.length,
    latencyMs: summarize(ok.map((c) => c.ms)),
    coldConfirmed: records.cold,
    recordsRead: records.read,
    serverDurationMs: summarize(records.durations),
    deployMs: summarize(deployMs),
    failures: calls.filter((c) => !c.ok).map((c) => `${c.status} ${c.error ?? ''}`.slice(0, 300)),
  };
  log(
    `cold ${pool} pool ${rt} ${variant}: p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms, ` +
      `${result.succeeded}/${result.functions} ok, coldStart ${records.cold}/${records.read}`,
  );
  return result;
}

/**
 * Cold starts twice: with the default pre-warmed pool (a few ready sandboxes, growing with demand:
 * a burst of 50 deploys outruns how fast Node sandboxes can be started) and with a pool sized for
 * the burst (`coldSizedPool`), filled before measuring.
 */
async function coldPhase(results: Results): Promise<void> {
  for (const pool of ['default', 'sized'] as const) {
    log(`cold: starting Nimbus (unpinned, ${pool} pre-warmed pool)`);
    const server = await NimbusServer.start(
      root,
      pool === 'sized'
        ? {
            env: {
              NIMBUS_PREWARM_PER_RUNTIME: String(SIZED_POOL.perRuntime),
              NIMBUS_PREWARM_MAX: String(SIZED_POOL.max),
            },
          }
        : {},
    );
    try {
      // The server's very first start of each runtime (resolving interpreters, page cache) is not a
      // function's cold start: pay it once, untimed.
      for (const rt of RUNTIMES) {
        await server.deploy(`prime-${short(rt)}`, rt);
        await server.invoke(`prime-${short(rt)}`);
        await server.remove(`prime-${short(rt)}`);
      }
      for (const rt of RUNTIMES) {
        for (const variant of ['spaced', 'back-to-back'] as const) {
          if (pool === 'sized') await waitForPools(server, SIZED_POOL.perRuntime);
          results.cold.push(await coldRun(server, rt, variant, pool));
        }
      }
      results.serverViews[`cold-${pool}`] = await serverViews(server);
    } finally {
      await server.stop();
    }
  }
}

/**
 * Waits (up to two minutes) until the server holds `size` ready sandboxes of every runtime, so no
 * pool is still being filled (sandboxes starting on the same CPUs) while cold starts are timed.
 */
async function waitForPools(server: NimbusServer, size: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const stats = (await server.getJson('/v1/stats')) as { prewarmed?: Record<string, number> } | undefined;
    if (RUNTIMES.every((rt) => (stats?.prewarmed?.[`${rt}:128`] ?? 0) >= size)) return;
    await sleep(250);
  }
  log(
    `cold: the pools did not reach ${size} ready sandboxes per runtime within two minutes; measuring anyway`,
  );
}

async function scalePhase(results: Results): Promise<void> {
  const rt: Runtime = 'python3';
  const n = settings.scaleFunctions;
  log(`scale: starting Nimbus (unpinned), ${n} ${rt} functions`);
  const server = await NimbusServer.start(root);
  try {
    await sleep(500);
    const serverIdleRssBytes = processMemory(server.pid).rss;
    const parentBefore = nimbusParentCgroupBytes() ?? null;
    const names = Array.from({ length: n }, (_, i) => `scale-${i}`);
    const t0 = performance.now();
    for (const name of names) await server.deploy(name, rt);
    const t1 = performance.now();
    const calls: Invocation[] = [];
    for (const name of names) calls.push(await server.invoke(name));
    const t2 = performance.now();
    await sleep(1000);
    const memory = treeMemory(server.pid);
    const views = await serverViews(server);
    results.serverViews.scale = views;
    const instances = (views.doctor as { instances?: unknown } | undefined)?.instances;
    const stats = views.stats as
      | {
          prewarmed?: Record<string, unknown>;
          evictions?: unknown;
          functions?: Record<string, { instances?: unknown }>;
        }
      | undefined;
    const spares = stats?.prewarmed
      ? Object.values(stats.prewarmed).reduce((sum: number, v) => sum + (typeof v === 'number' ? v : 0), 0)
      : null;
    // Functions that still hold an instance: from /v1/stats per function, else /v1/doctor's count.
    const perFunction = stats?.functions;
    const warmHeld = perFunction
      ? names.filter((name) => Number(perFunction[name]?.instances ?? 0) >= 1).length
      : typeof instances === 'number'
        ? Math.min(n, instances)
        : null;
    const basis = memory.cgroupBytes !== undefined && memory.cgroups > 0 ? 'cgroups' : 'rss';
    const sandboxes = basis === 'cgroups' ? (memory.cgroupBytes ?? 0) : memory.rssBytes;
    // Were they really all kept warm? A second call of each must not be a cold start.
    const again: Invocation[] = [];
    for (const name of names) again.push(await server.invoke(name));
    const records = await readRecords(server, again);
    const scale: ScaleResult = {
      runtime: rt,
      functions: n,
      deploySec: (t1 - t0) / 1000,
      firstInvokeSec: (t2 - t1) / 1000,
      totalSec: (t2 - t0) / 1000,
      succeeded: calls.filter((c) => c.ok).length,
      instances: typeof instances === 'number' ? instances : null,
      warmHeld,
      evictions: typeof stats?.evictions === 'number' ? stats.evictions : null,
      warmOnSecondCall: records.read - records.cold,
      secondCallsRecorded: records.read,
      spares,
      memory,
      serverIdleRssBytes,
      totalBytes: sandboxes + memory.rootRssBytes,
      basis,
      nimbusParentCgroupBytes: { before: parentBefore, after: nimbusParentCgroupBytes() ?? null },
      failures: calls.filter((c) => !c.ok).map((c) => `${c.status} ${c.error ?? ''}`.slice(0, 300)),
    };
    results.scale = scale;
    log(
      `scale: ${scale.succeeded}/${n} ok in ${scale.totalSec.toFixed(1)} s, ${warmHeld ?? '?'} held warm, ` +
        `${scale.warmOnSecondCall}/${records.read} warm on a second call, ` +
        `${(scale.totalBytes / 1024 ** 2).toFixed(0)} MiB (${basis} + server RSS)`,
    );
  } finally {
    await server.stop();
  }
}

async function burstPhase(results: Results): Promise<void> {
  log('burst: starting Nimbus (unpinned)');
  const server = await NimbusServer.start(root);
  try {
    for (const rt of RUNTIMES) {
      const name = `burst-${short(rt)}`;
      // A server that has just started is still filling its pre-warmed pools: measure a settled one.
      await waitForPools(server, 2);
      await server.deploy(name, rt);
      const agent = new http.Agent({ keepAlive: true, maxSockets: settings.burstCalls });
      const t0 = performance.now();
      const calls = await Promise.all(
        Array.from({ length: settings.burstCalls }, () => server.invoke(name, agent)),
      );
      const allAnsweredMs = performance.now() - t0;
      agent.destroy();
      const records = await readRecords(server, calls);
      await server.remove(name);
      const burst: BurstResult = {
        runtime: rt,
        calls: settings.burstCalls,
        succeeded: calls.filter((c) => c.ok).length,
        allAnsweredMs,
        latencyMs: summarize(calls.filter((c) => c.ok).map((c) => c.ms)),
        coldStarts: records.cold,
        recordsRead: records.read,
        failures: calls.filter((c) => !c.ok).map((c) => `${c.status} ${c.error ?? ''}`.slice(0, 300)),
      };
      results.burst.push(burst);
      log(
        `burst ${rt}: ${burst.succeeded}/${burst.calls} ok, all answered in ${allAnsweredMs.toFixed(0)} ms`,
      );
    }
    results.serverViews.burst = await serverViews(server);
  } finally {
    await server.stop();
  }
}

function targets(r: Results): Target[] {
  const cell = (mode: WarmMode, target: string, c: number): WarmCell | undefined =>
    r.warm.find((w) => w.mode === mode && w.target === target && w.connections === c);
  const ratio = (w: WarmCell | undefined): string => {
    if (w?.ratioToNodeHttp == null) return 'n/a';
    const bare = cell(w.mode, 'node-http', w.connections);
    return (
      `${(w.ratioToNodeHttp * 100).toFixed(0)}% (${Math.round(w.requestsPerSec)} vs ` +
      `${Math.round(bare?.requestsPerSec ?? Number.NaN)} req/s)`
    );
  };
  const out: Target[] = [];
  const c100 = warmId('nodejs', 100);
  const node50 = cell('shared', c100, 50);
  const paired = r.paired;
  out.push({
    name:
      'warm Node (concurrency 100) at 50 connections, shared CPUs: ≥ 50% of bare node:http req/s ' +
      `(median of ${paired?.ratios.length ?? 0} back-to-back pairs)`,
    measured: paired
      ? `${(paired.median * 100).toFixed(0)}% (pairs: ${paired.ratios.map((x) => `${(x * 100).toFixed(0)}%`).join(', ')})`
      : 'n/a',
    pass: paired ? paired.median >= 0.5 : null,
  });
  out.push({
    name: 'the same, as medians of the table (rounds a minute apart)',
    measured: ratio(node50),
    pass: null,
    informational: true,
  });
  const node1 = cell('shared', 'nimbus-node', 1);
  const bare1 = cell('shared', 'node-http', 1);
  const delta = node1 && bare1 ? node1.p50Ms - bare1.p50Ms : undefined;
  out.push({
    name: 'warm Node (concurrency 1) at 1 connection, shared CPUs: p50 within 0.5 ms of bare node:http',
    measured:
      delta === undefined
        ? 'n/a'
        : `${delta >= 0 ? '+' : ''}${delta.toFixed(3)} ms (${node1!.p50Ms.toFixed(3)} vs ${bare1!.p50Ms.toFixed(3)})`,
    pass: delta === undefined ? null : delta <= 0.5,
  });
  out.push({
    name: 'warm Node (concurrency 1) at 50 connections, shared CPUs: share of bare node:http req/s',
    measured: ratio(cell('shared', 'nimbus-node', 50)),
    pass: null,
    informational: true,
  });
  out.push({
    name: `warm Node (concurrency 100) at 50 connections, pinned (server CPU ${SERVER_CPU}, wrk CPU ${CLIENT_CPU}): share of bare node:http req/s`,
    measured: ratio(cell('pinned', c100, 50)),
    pass: null,
    informational: true,
  });
  for (const rt of RUNTIMES) {
    for (const pool of ['sized', 'default'] as const) {
      const cold = r.cold.find((c) => c.runtime === rt && c.variant === 'spaced' && c.pool === pool);
      const valid = cold && cold.succeeded > 0;
      const where =
        pool === 'sized'
          ? `spaced, pool sized for the burst: ${settings.coldSizedPool}`
          : 'spaced, default pool';
      for (const [percentile, limitMs] of [
        ['p50', 10],
        ['p99', 30],
      ] as const) {
        const value = valid ? cold.latencyMs[percentile] : undefined;
        out.push({
          name: `cold start ${label(rt)} ${percentile} ≤ ${limitMs} ms (${where})`,
          measured: value === undefined ? 'n/a' : `${value.toFixed(2)} ms`,
          pass:
            pool === 'default' || value === undefined
              ? null
              : value <= limitMs && cold!.succeeded === cold!.functions,
          ...(pool === 'default' ? { informational: true } : {}),
        });
      }
    }
  }
  const sc = r.scale;
  const held = sc ? (sc.warmHeld ?? sc.warmOnSecondCall) : 0;
  out.push({
    name: `${sc?.functions ?? 200} warm functions within 8 GB`,
    measured: sc
      ? `${(sc.totalBytes / 1024 ** 3).toFixed(2)} GiB with ${held}/${sc.functions} held warm, ` +
        `${sc.warmOnSecondCall}/${sc.secondCallsRecorded} warm on a second call`
      : 'n/a',
    pass: sc
      ? sc.totalBytes <= 8 * 1024 ** 3 && held >= sc.functions && sc.warmOnSecondCall >= sc.functions
      : null,
  });
  return out;
}

/** Formats the Markdown with the repository's prettier settings (so `npm run check` stays green), if prettier is installed. */
async function formatMarkdown(markdown: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(markdown, { ...options, parser: 'markdown' });
  } catch {
    return markdown;
  }
}

async function save(results: Results): Promise<string> {
  mkdirSync(resultsDir, { recursive: true });
  const stamp = results.startedAt.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const jsonFile = join(resultsDir, `${stamp}.json`);
  writeFileSync(
    jsonFile,
    `${JSON.stringify(results, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
  const mdFile = join(resultsDir, 'latest.md');
  const markdown = await formatMarkdown(renderMarkdown(results), mdFile);
  if (onlyPhases) {
    log(`wrote ${jsonFile} (a partial run leaves latest.json and latest.md alone)`);
    return markdown;
  }
  copyFileSync(jsonFile, join(resultsDir, 'latest.json'));
  writeFileSync(mdFile, markdown);
  log(`wrote ${jsonFile}, latest.json and latest.md`);
  return markdown;
}

async function stopEverything(): Promise<void> {
  await stopAllNimbus();
  await stopAll();
  keepAlive.destroy();
}

async function main(): Promise<void> {
  const results: Results = {
    startedAt: new Date().toISOString(),
    durationSec: 0,
    machine: machineInfo(),
    loadAverageEnd: [],
    cpuBusyBefore: await cpuBusy(1000),
    cpuBusyAfter: Number.NaN,
    settings,
    notes: [],
    warm: [],
    cold: [],
    paired: null,
    scale: null,
    burst: [],
    serverViews: {},
    targets: [],
  };
  results.notes.push(
    'Warm runs in two modes, each with its own servers: **shared** (nothing pinned: the server under test and wrk ' +
      `share all ${results.machine.cpuCount} CPUs; ${settings.connections.shared.join(', ')} connections; the targets use it) and ` +
      (settings.pinned
        ? `**pinned** (taskset: the server under test on CPU ${SERVER_CPU}, Nimbus together with all its sandboxes and threads, ` +
          `wrk on CPU ${CLIENT_CPU}; ${settings.connections.pinned.join(', ')} connections; CPU efficiency).`
        : '**pinned**, skipped here: taskset is missing or there are fewer than 2 CPUs.') +
      ' Cold start, scale and burst run unpinned.',
  );
  results.notes.push(
    `Cold starts: ${settings.coldFunctions} functions per runtime; "spaced" = deploy, wait ${settings.coldPauseMs} ms, first invoke; ` +
      '"back-to-back" = deploy all first, then first-invoke each with no pause. Percentiles interpolate between ranks.',
  );
  if (results.cpuBusyBefore > 0.1) {
    results.notes.push(
      `Other work was running when the benchmark started (${Math.round(results.cpuBusyBefore * 100)}% of the CPUs busy): expect noise.`,
    );
  }
  const phases: [string, (r: Results) => Promise<void>][] = [
    ['warm', warmPhase],
    ['cold', coldPhase],
    ['scale', scalePhase],
    ['burst', burstPhase],
  ];
  for (const [name, phase] of phases) {
    if (onlyPhases && !onlyPhases.has(name)) continue;
    try {
      await phase(results);
    } catch (err) {
      log(`${name} phase failed: ${(err as Error).stack ?? String(err)}`);
      results.notes.push(`${name} phase failed: ${(err as Error).message.slice(0, 500)}`);
      process.exitCode = 1;
    }
  }
  results.targets = targets(results);
  results.loadAverageEnd = loadavg().map((l) => Math.round(l * 100) / 100);
  results.cpuBusyAfter = await cpuBusy(1000);
  results.durationSec = (performance.now() - started) / 1000;
  const markdown = await save(results);
  process.stdout.write(markdown);
}

let stopping = false;
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) {
    killAllNow();
    process.exit(130);
  }
  stopping = true;
  log(`${signal}: stopping everything the benchmark started (again to force)`);
  void stopEverything().finally(() => process.exit(130));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('exit', killAllNow);

const watchdog = setTimeout(() => {
  log(`the benchmark ran longer than ${WATCHDOG_MS / 60_000} min: aborting`);
  void stopEverything().finally(() => process.exit(1));
}, WATCHDOG_MS);
watchdog.unref();

main()
  .catch((err: unknown) => {
    log(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopEverything();
    clearTimeout(watchdog);
  });
