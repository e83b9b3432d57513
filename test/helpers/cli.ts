/**
 * Runs the `nimbus` command as a real process, as a user would. Asynchronous on purpose: the test's
 * server runs in the test's own process, so a synchronous spawn would deadlock it.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './harness.js';

export const BIN = join(REPO_ROOT, 'dist/src/cli/main.js');

export interface CliResult {
  /** The exit code; null when the process was killed (e.g. by the 30 s limit). */
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(env: NodeJS.ProcessEnv, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env, cwd: REPO_ROOT, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
      },
    );
  });
}
