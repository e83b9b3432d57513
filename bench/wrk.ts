/**
 * Runs `wrk` (pinned to the client CPU when possible) with bench/wrk/post-json.lua and parses the
 * JSON line its `done` hook prints: requests, errors and latency percentiles in microseconds.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, stopProcess } from './procs.js';

export interface WrkResult {
  connections: number;
  durationSec: number;
  requests: number;
  requestsPerSec: number;
  /** Responses with a status other than 2xx/3xx, plus connect/read/write errors and timeouts. */
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: {
    min: number;
    mean: number;
    stdev: number;
    max: number;
    p50: number;
    p90: number;
    p99: number;
    p999: number;
  };
}

interface WrkOptions {
  url: string;
  connections: number;
  durationSec: number;
  /** Full `authorization` header value, passed to the Lua script through the environment. */
  authorization?: string;
  cpu?: number;
}

interface DoneLine {
  duration_us: number;
  requests: number;
  errors: WrkResult['errors'];
  latency_us: WrkResult['latencyUs'];
}

const WRK = '/usr/bin/wrk';

export function wrkAvailable(): boolean {
  return existsSync(WRK);
}

function luaScript(root: string): string {
  return join(root, 'bench', 'wrk', 'post-json.lua');
}

export async function runWrk(root: string, options: WrkOptions): Promise<WrkResult> {
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${options.durationSec}s`,
    '--timeout',
    '5s',
    '-s',
    luaScript(root),
    options.url,
  ];
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (options.authorization) env.BENCH_AUTHORIZATION = options.authorization;
  const child = startProcess(WRK, args, { cpu: options.cpu, env });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const limitMs = (options.durationSec + 20) * 1000;
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => {
      void stopProcess(child, 1000);
      resolve('timeout');
    }, limitMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve(err.message);
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve(exitCode ?? signal ?? 'unknown');
    });
  });
  return parseWrkOutput(stdout, options, `wrk ended with ${code}: ${stderr.trim()}`);
}

function parseWrkOutput(stdout: string, options: WrkOptions, failure: string): WrkResult {
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`${failure}\n${stdout.trim()}`);
  const done = JSON.parse(line.slice('BENCH_JSON '.length)) as DoneLine;
  const seconds = done.duration_us / 1e6;
  return {
    connections: options.connections,
    durationSec: seconds,
    requests: done.requests,
    requestsPerSec: seconds > 0 ? done.requests / seconds : 0,
    errors: done.errors,
    latencyUs: done.latency_us,
  };
}

export function errorCount(result: WrkResult): number {
  const e = result.errors;
  return e.connect + e.read + e.write + e.status + e.timeout;
}
