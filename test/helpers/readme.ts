/**
 * README's shell blocks as tests run them: the lines of a section's `sh` blocks, each run with bash
 * as a user pastes it (comments and all), from the repository root, against a test server.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliResult } from './cli.js';
import { REPO_ROOT } from './harness.js';

/**
 * The command lines of the `sh` blocks under the README heading `heading` (up to the next one of its level).
 * README addresses the server as `localhost:8080`, where `npm start` listens: tests pass the test
 * server's address to `runShellLine` instead.
 */
export function readmeShellLines(heading: string): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no heading '${heading}'`);
  const level = heading.split(' ')[0]!;
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  const section = end < 0 ? rest : rest.slice(0, end);
  const lines: string[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    // A line ending in a backslash goes on on the next one, as in a shell.
    for (const line of block[1]!.replace(/\\\n/g, ' ').split('\n')) if (line.trim() !== '') lines.push(line);
  }
  return lines;
}

/** Runs one README line with bash from the repository root; `env` points the CLI at the server. */
export function runShellLine(env: NodeJS.ProcessEnv, line: string, serverUrl?: string): Promise<CliResult> {
  const command = serverUrl ? line.replaceAll('localhost:8080', new URL(serverUrl).host) : line;
  return new Promise((resolve) => {
    execFile('bash', ['-c', command], { env, cwd: REPO_ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}
