/**
 * Every process the benchmark starts (servers, workerd, wrk) goes through this registry, so all of
 * them are stopped at the end, also on an error or Ctrl-C. Optionally pins a process to one CPU with
 * `taskset` (its children inherit the affinity).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** A new directory under the system temp dir, removed by `removeTempDir` or at the latest by `stopAll`. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  tempDirs.delete(dir);
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    console.error(`bench: could not remove ${dir}: ${(err as Error).message}`);
  }
}

let pinning: boolean | undefined;

/** True when `taskset` works here and there are at least two CPUs to split between server and client. */
export function canPin(): boolean {
  if (pinning === undefined) {
    const probe = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore', timeout: 5000 });
    pinning = probe.status === 0 && cpus().length >= 2;
  }
  return pinning;
}

interface StartOptions {
  /** Pin to this CPU when pinning is possible. */
  cpu?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function startProcess(command: string, args: string[], options: StartOptions = {}): ChildProcess {
  const pinned = options.cpu !== undefined && canPin();
  const [file, argv] = pinned ? ['taskset', ['-c', String(options.cpu), command, ...args]] : [command, args];
  const child = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  // A spawn failure (e.g. ENOENT) is reported through waitForOutput / exit; keep it from crashing us.
  child.once('error', () => children.delete(child));
  return child;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone (or after a bounded wait). */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (hasExited(child) || child.pid === undefined) {
    children.delete(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const giveUp = new Promise<void>((resolve) => setTimeout(resolve, graceMs + 5000).unref());
  await Promise.race([exited, giveUp]);
  clearTimeout(killer);
  children.delete(child);
}

/** Stops every process still running, then removes every temp dir still there. */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((child) => stopProcess(child, 3000)));
  for (const dir of [...tempDirs]) removeTempDir(dir);
}

/** Last resort on process exit: synchronous SIGKILL to whatever is still running. */
export function killAllNow(): void {
  for (const child of children) if (!hasExited(child)) child.kill('SIGKILL');
}

/** Collects a child's output and resolves with the first match of `pattern` on stdout. */
export function waitForOutput(
  child: ChildProcess,
  pattern: RegExp,
  timeoutMs: number,
): Promise<RegExpMatchArray> {
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    const finish = (err: Error | undefined, match?: RegExpMatchArray): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err) reject(err);
      else if (match) resolve(match);
    };
    const onOut = (chunk: Buffer): void => {
      stdout += chunk.toString('utf8');
      const match = stdout.match(pattern);
      if (match) finish(undefined, match);
    };
    const onErr = (chunk: Buffer): void => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    };
    const onExit = (code: number | null, signal: string | null): void =>
      finish(new Error(`process exited (${code ?? signal}) before ready: ${stderr.trim() || stdout.trim()}`));
    const onError = (err: Error): void => finish(err);
    const timer = setTimeout(
      () => finish(new Error(`not ready within ${timeoutMs} ms: ${stderr.trim() || stdout.trim()}`)),
      timeoutMs,
    );
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/** Keeps reading a child's output so a full pipe never blocks it; returns the last bytes of stderr. */
export function drain(child: ChildProcess): () => string {
  let tail = '';
  child.stdout?.resume();
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  });
  return () => tail;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
