/**
 * Every shell block in README runs as written: the blocks are extracted in order and run as one
 * bash session (`set -euo pipefail`, so a failing command fails its block), as a user pastes them
 * one after another into a terminal, against one fresh server. The session runs where a user
 * follows the quickstart: a directory with `examples/`, the server's data dir `.nimbus` (the CLI
 * finds the server's URL and admin key there by itself) and `npx nimbus` resolving to this
 * checkout's CLI. The one rewrite: README's `localhost:8080` (where `npm start` listens) becomes
 * the test server's address, since tests listen on a free port. Blocks marked
 * `<!-- readme-test: skip (reason) -->` are listed and counted, never run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BIN } from './helpers/cli.js';
import { REPO_ROOT, startTestServer } from './helpers/harness.js';
import { readmeShellBlocks, type ReadmeShellBlock } from './helpers/readme.js';

/** The blocks README marks as not runnable here; a new skip must be added here too, on purpose. */
const EXPECTED_SKIPS = 4;
const SESSION_TIMEOUT_MS = 240_000;

interface BlockRun {
  block: ReadmeShellBlock;
  stdout: string;
  stderr: string;
}

interface SessionResult {
  code: number | null;
  /** The runs of the blocks that started, in order; the last one failed when `code` is not 0. */
  runs: BlockRun[];
  finished: boolean;
}

/** The marker the session prints to stdout and stderr before each block, so outputs can be split. */
const marker = (id: string): string => `@@readme-block ${id}@@`;

/** Runs `blocks` as one bash session in `cwd`, each announced by its marker on both streams. */
function runSession(
  blocks: ReadmeShellBlock[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  serverHost: string,
): Promise<SessionResult> {
  const script = ['set -euo pipefail'];
  blocks.forEach((block, i) => {
    script.push(
      `echo "${marker(String(i))}"; echo "${marker(String(i))}" >&2; date +%s%3N >> ../readme-times`,
    );
    script.push(block.code.replaceAll('localhost:8080', serverHost).replaceAll('127.0.0.1:8080', serverHost));
  });
  script.push(`printf '%s\\n' '${marker('end')}'`);
  const scriptPath = join(cwd, '..', 'readme-session.sh');
  writeFileSync(scriptPath, `${script.join('\n')}\n`);
  return new Promise((resolve) => {
    execFile(
      'bash',
      [scriptPath],
      { cwd, env, timeout: SESSION_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        const out = splitByMarker(stdout);
        const errs = splitByMarker(stderr);
        const runs = blocks
          .map((block, i) => ({ block, stdout: out.get(String(i)), stderr: errs.get(String(i)) ?? '' }))
          .filter((run): run is BlockRun => run.stdout !== undefined);
        resolve({ code, runs, finished: out.has('end') });
      },
    );
  });
}

function splitByMarker(text: string): Map<string, string> {
  const parts = text.split(/@@readme-block (\d+|end)@@\n/);
  const byId = new Map<string, string>();
  for (let i = 1; i < parts.length; i += 2) byId.set(parts[i]!, parts[i + 1] ?? '');
  return byId;
}

/** What the blocks under each heading must have printed (stdout of the heading's blocks, joined). */
const EXPECTED_OUTPUT: Record<string, RegExp[]> = {
  '## Quickstart': [/Hello, Ada!/, /greeting Ada/, /Hello, Grace!/],
  '## Moving a function from Lambda or Function Compute': [
    /"statusCode": 200/,
    /Hello from Lambda!/,
    /START RequestId: \S+ Version: \$LATEST/,
    /\tINFO\tevent \{"key1":"value1"\} in arn:aws:lambda:us-east-1:000000000000:function:from-lambda-node/,
    /REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB/,
    /Init Duration: [\d.]+ ms/,
  ],
  '## Asynchronous invocation': [/succeeded/, /"executionId":/],
  '## Versions and aliases': [/^1$/m, /^2$/m, /tea/],
  '## Layers': [/layer:greetings:1/, /Ada/, /greetings/],
  '## Timers': [/cron\(05 00 \* \* \? \*\)/],
  '## HTTP triggers': [/\{"disk": "d-t4ng5a4ia2jn5memzlv3"\}/],
  '### Response streaming': [/chunk 1 of \S+\nchunk 2 of \S+\nchunk 3 of \S+\n/],
  '## AWS Lambda API': [
    /AWS_ACCESS_KEY_ID/,
    /Hello, Ada!/,
    /"Version": "2"/,
    /"ExecutedVersion": "2"/,
    /layer:greetings:2/,
  ],
  '## REST API': [/Hello, Ada!/],
};

describe('README shell blocks', () => {
  it('are found in order with their headings; skip markers need a reason', () => {
    const text = [
      '## One',
      '```sh',
      'echo one',
      '```',
      '```python',
      'print("not shell")',
      '```',
      '### Two',
      '<!-- readme-test: skip (runs forever) -->',
      '```bash',
      'sleep infinity',
      '```',
      '```console',
      '$ echo three',
      'three',
      '```',
    ].join('\n');
    assert.deepEqual(readmeShellBlocks(text), [
      { line: 2, heading: '## One', code: 'echo one', skip: undefined },
      { line: 10, heading: '### Two', code: 'sleep infinity', skip: 'runs forever' },
      { line: 13, heading: '### Two', code: 'echo three', skip: undefined },
    ]);
    assert.throws(
      () => readmeShellBlocks('<!-- readme-test: skip -->\n```sh\ntrue\n```\n'),
      /needs its reason/,
    );
  });

  it('every block runs as written, in order, against one fresh server', { timeout: 300_000 }, async (t) => {
    const blocks = readmeShellBlocks();
    const skipped = blocks.filter((b) => b.skip !== undefined);
    for (const b of skipped) t.diagnostic(`skipped README.md:${b.line} (${b.heading}): ${b.skip}`);
    t.diagnostic(`${blocks.length - skipped.length} blocks run, ${skipped.length} skipped`);
    assert.equal(
      skipped.length,
      EXPECTED_SKIPS,
      'skips are rare and on purpose: update EXPECTED_SKIPS with one',
    );

    const root = mkdtempSync(join(tmpdir(), 'nimbus-readme-'));
    const cwd = join(root, 'checkout');
    mkdirSync(join(cwd, '.nimbus'), { recursive: true });
    mkdirSync(join(cwd, 'node_modules', '.bin'), { recursive: true });
    // `npx nimbus` finds the CLI in node_modules/.bin, as in a checkout after `npm ci`.
    symlinkSync(BIN, join(cwd, 'node_modules', '.bin', 'nimbus'));
    cpSync(join(REPO_ROOT, 'examples'), join(cwd, 'examples'), { recursive: true });
    const nimbus = await startTestServer({ dataDir: join(cwd, '.nimbus') });
    try {
      const env: NodeJS.ProcessEnv = {};
      for (const [name, value] of Object.entries(process.env)) {
        // The session gets only what README tells users to set, not this machine's settings.
        if (!name.startsWith('NIMBUS_') && !name.startsWith('AWS_')) env[name] = value;
      }
      env.XDG_CONFIG_HOME = join(root, 'config');
      env.AWS_CONFIG_FILE = join(root, 'aws-config-none');
      env.AWS_SHARED_CREDENTIALS_FILE = join(root, 'aws-credentials-none');

      const runnable = blocks.filter((b) => b.skip === undefined);
      const started = Date.now();
      const result = await runSession(runnable, cwd, env, new URL(nimbus.url).host);
      const ended = Date.now();
      t.diagnostic(`session took ${((ended - started) / 1000).toFixed(1)} s`);
      const startTimes = readFileSync(join(root, 'readme-times'), 'utf8').trim().split('\n').map(Number);
      startTimes.forEach((at, i) => {
        const seconds = ((startTimes[i + 1] ?? ended) - at) / 1000;
        t.diagnostic(`README.md:${runnable[i]!.line} (${runnable[i]!.heading}) took ${seconds.toFixed(1)} s`);
      });
      const last = result.runs.at(-1);
      assert.ok(
        result.code === 0 && result.finished && result.runs.length === runnable.length,
        last
          ? `README.md:${last.block.line} (${last.block.heading}) failed (exit ${result.code}):\n` +
              `${last.block.code}\n--- stdout ---\n${last.stdout}\n--- stderr ---\n${last.stderr}`
          : `the session failed before its first block (exit ${result.code})`,
      );

      for (const [heading, patterns] of Object.entries(EXPECTED_OUTPUT)) {
        const runs = result.runs.filter((r) => r.block.heading === heading);
        assert.ok(runs.length > 0, `README has no shell block under '${heading}'`);
        const stdout = runs.map((r) => r.stdout).join('');
        for (const pattern of patterns) assert.match(stdout, pattern, `${heading}: output lacks ${pattern}`);
      }
      assert.deepEqual(
        readFileSync(join(cwd, 'cat.png')),
        readFileSync(join(REPO_ROOT, 'examples/images/cat.png')),
        'the HTTP trigger served the packaged image',
      );
    } finally {
      await nimbus.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
