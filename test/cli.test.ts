/** The `nimbus` command, run as a real process against a real server, as a user would. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { settingsTable } from '../src/config.js';
import { REPO_ROOT, startTestServer, type TestServer } from './helpers/harness.js';
import { BIN, runCli } from './helpers/cli.js';
import { childrenOf, cmdline, isRunning } from './helpers/procs.js';

describe('nimbus CLI', () => {
  let nimbus: TestServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    nimbus = await startTestServer();
    env = { ...process.env, NIMBUS_URL: nimbus.url, NIMBUS_KEY: nimbus.key, XDG_CONFIG_HOME: nimbus.dataDir };
  });
  after(() => nimbus.close());

  const run = (...args: string[]) => runCli(env, args);

  it('deploys a directory, invokes it, lists executions and shows their logs', async () => {
    const deploy = await run(
      'deploy',
      './examples/hello-python',
      '--name',
      'hello',
      '--runtime',
      'python3',
      '--handler',
      'main.handler',
    );
    assert.equal(deploy.code, 0, deploy.stderr);
    assert.match(deploy.stdout, /deployed hello \(python3, code sha256 [0-9a-f]{12}\)/);

    const invoke = await run('invoke', 'hello', '--data', '{"name":"Ada"}');
    assert.equal(invoke.code, 0, invoke.stderr);
    assert.equal(JSON.parse(invoke.stdout).message, 'Hello, Ada!');
    const id = /execution ([0-9a-f-]{36})/.exec(invoke.stderr)?.[1];
    assert.ok(id, invoke.stderr);

    const executions = await run('executions', 'hello');
    assert.equal(executions.code, 0, executions.stderr);
    assert.match(executions.stdout, /ID\s+STATUS\s+DURATION\s+START\s+TRIGGER/);
    assert.match(executions.stdout, new RegExp(`${id}\\s+succeeded\\s+\\d+ ms\\s+cold\\s+cli`));

    const logs = await run('logs', id);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /stdout greeting Ada/);
    // Framed as in Lambda's log stream: START first, END and REPORT last (cold start: Init Duration).
    const printed = logs.stdout.trimEnd().split('\n');
    assert.match(printed[0]!, new RegExp(`system START RequestId: ${id} Version: \\$LATEST$`));
    assert.match(printed.at(-2)!, new RegExp(`system END RequestId: ${id}$`));
    assert.match(
      printed.at(-1)!,
      new RegExp(`system REPORT RequestId: ${id}\tDuration: .*\tInit Duration: `),
    );

    const detail = await run('executions', 'get', id);
    assert.equal(detail.code, 0, detail.stderr);
    assert.match(
      detail.stdout,
      /report\s+\d+\.\d\d ms call, \d+\.\d\d ms init, (\d+|\?) of 128 MB memory used/,
    );
  });

  it('updates an existing function on a second deploy and manages functions', async () => {
    const deployNode = (...extra: string[]) =>
      run(
        'deploy',
        './examples/hello-node',
        '--name',
        'hn',
        '--runtime',
        'nodejs',
        '--handler',
        'index.handler',
        ...extra,
      );
    const first = await deployNode();
    assert.equal(first.code, 0, first.stderr);
    const again = await deployNode('--memory', '256', '--env', 'A=1');
    assert.equal(again.code, 0, again.stderr);
    const got = await run('functions', 'get', 'hn', '--json');
    assert.equal(JSON.parse(got.stdout).memoryMb, 256);
    assert.deepEqual(JSON.parse(got.stdout).env, { A: '1' });
    assert.match((await run('functions', 'list')).stdout, /hn\s+nodejs\s+index\.handler\s+256 MB/);
    assert.equal((await run('functions', 'delete', 'hn')).code, 0);
    const gone = await run('functions', 'get', 'hn');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no function named 'hn'/);
  });

  it('reports function errors and bad input with a non-zero exit', async () => {
    const missing = await run('invoke', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /FUNCTION_NOT_FOUND/);
    const badJson = await run('invoke', 'hello', '--data', '{bad');
    assert.notEqual(badJson.code, 0);
    assert.match(badJson.stderr, /not valid JSON/);
    const badDeploy = await run(
      'deploy',
      './examples/hello-python',
      '--name',
      'Bad_Name',
      '--runtime',
      'python3',
      '--handler',
      'main.handler',
    );
    assert.equal(badDeploy.code, 1);
    assert.match(badDeploy.stderr, /function name 'Bad_Name' is invalid/);
  });

  it('follows a function log live', async () => {
    const follower = spawn(process.execPath, [BIN, 'logs', 'hello', '--follow', '--tail', '0'], { env });
    let out = '';
    const seen = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no live line; got: ${out}`)), 15_000);
      follower.on('exit', () => clearTimeout(timer));
      follower.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('greeting Live')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await run('invoke', 'hello', '--data', '{"name":"Live"}')).code, 0);
    try {
      await seen;
    } finally {
      follower.kill('SIGINT');
    }
  });

  it('prints the isolation report', async () => {
    const doctor = await run('doctor');
    assert.equal(doctor.code, 0, doctor.stderr);
    assert.match(doctor.stdout, /sandbox driver: (bubblewrap|process)/);
  });
});

/** Runs `nimbus server` on a free port with the given data dir, silent, plus `args`. */
function spawnServer(dataDir: string, args: string[], env: NodeJS.ProcessEnv) {
  return spawn(
    process.execPath,
    [BIN, 'server', '--port', '0', '--data-dir', dataDir, '--log-level', 'silent', ...args],
    { env: { ...process.env, ...env } },
  );
}

describe('nimbus server', () => {
  it('starts on the given port and data dir, generates the admin key once (mode 0600), stops on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-cli-server-'));
    try {
      const server = spawnServer(dataDir, ['--idle-timeout-sec', '600', '--prewarm-per-runtime', '0'], {
        NIMBUS_ADMIN_KEY: '',
      });
      let out = '';
      server.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 15_000);
        server.stdout.on('data', () => {
          const match = /listening on (http:\/\/\S+)/.exec(out);
          if (match && /admin key/.test(out)) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
      });
      const key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
      assert.ok(out.includes(key), 'the generated key is printed once');
      assert.equal(statSync(join(dataDir, 'admin.key')).mode & 0o777, 0o600);
      const health = await fetch(`${url}/v1/health`);
      assert.equal(health.status, 200);
      const authed = await fetch(`${url}/v1/functions`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(authed.status, 200);
      const exited = new Promise<number | null>((r) => server.on('exit', (code) => r(code)));
      server.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('leaves no launcher or sandbox behind when the server is killed outright', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-cli-killed-'));
    try {
      const server = spawnServer(dataDir, ['--prewarm-per-runtime', '1'], {
        NIMBUS_ADMIN_KEY: 'k'.repeat(24),
      });
      const exited = new Promise<void>((r) => server.on('exit', () => r()));
      // The pre-warmed pool starts sandboxes through the launcher; wait until they are there.
      let launcher: number | undefined;
      let sandboxes: number[] = [];
      for (let i = 0; i < 150 && sandboxes.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
        launcher = childrenOf(server.pid!).find((pid) => cmdline(pid).includes('launcher-process.js'));
        sandboxes = launcher === undefined ? [] : childrenOf(launcher);
      }
      assert.ok(
        launcher !== undefined && sandboxes.length >= 2,
        'the launcher started the pre-warmed sandboxes',
      );
      server.kill('SIGKILL');
      await exited;
      const survivors = () => [launcher!, ...sandboxes].filter(isRunning);
      for (let i = 0; i < 100 && survivors().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(survivors(), [], 'the launcher and its sandboxes exit with the server');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('reports every bad setting at once', () => {
    const res = spawnSync(process.execPath, [BIN, 'server', '--port', 'abc', '--sandbox', 'docker'], {
      encoding: 'utf8',
      env: { ...process.env, NIMBUS_IDLE_TIMEOUT_SEC: '-5' },
    });
    assert.equal(res.status, 2);
    assert.match(res.stderr, /--port/);
    assert.match(res.stderr, /--sandbox/);
    assert.match(res.stderr, /NIMBUS_IDLE_TIMEOUT_SEC/);
  });
});

describe('README', () => {
  it('shows the settings table generated from the schema', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    assert.ok(readme.includes(settingsTable()), 'regenerate the table with `nimbus settings`');
  });
});
