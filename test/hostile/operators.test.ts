/**
 * Careless operators: a second server started on a running server's data dir, a CLI run beside a
 * server on another port, and `--on-failure none`. Each must end in a clear message, never in a
 * broken server or a misleading error.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { BIN, runCli } from '../helpers/cli.js';

/** Runs `nimbus server` until it exits; resolves with its exit code and output. */
function runServer(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [BIN, 'server', '--log-level', 'silent', ...args], {
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe('hostile operators: the data dir belongs to one server', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer();
    await nimbus.deploy('survivor', 'node-esm', 'nodejs', 'index.handler');
  });
  after(() => nimbus.close());

  it('a second server on the same data dir exits at once with a clear message and touches nothing', async () => {
    const slotsBefore = existsSync(join(nimbus.dataDir, 'slots'));
    const second = runServer(['--port', '0', '--data-dir', nimbus.dataDir, '--prewarm-per-runtime', '0']);
    const code = await second.exited;
    assert.notEqual(code, 0, 'the second server failed');
    assert.match(
      second.output().stderr,
      /another Nimbus server \(pid \d+\) is already using the data dir/,
      second.output().stderr,
    );
    assert.equal(existsSync(join(nimbus.dataDir, 'slots')), slotsBefore, 'the slots dir was left alone');
    assert.equal(
      readFileSync(join(nimbus.dataDir, 'server.url'), 'utf8').trim(),
      nimbus.url,
      'the first server still owns the recorded URL',
    );
    // The first server still serves a cold start (its slots and runtime are intact).
    const res = await nimbus.invoke('survivor', { name: 'still here' });
    assert.equal(res.status, 200, res.text);
  });

  it('a second server in the same process is refused too', async () => {
    await assert.rejects(startTestServer({ dataDir: nimbus.dataDir }), /already using the data dir/);
    assert.equal((await nimbus.invoke('survivor')).status, 200);
  });
});

describe('hostile operators: the CLI finds the server where it listens', () => {
  it('uses the URL a server on --port 8081 recorded, and names it in auth and connection errors', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-port-'));
    const xdg = mkdtempSync(join(tmpdir(), 'nimbus-xdg-'));
    const server = runServer(['--port', '8081', '--data-dir', dataDir, '--prewarm-per-runtime', '0'], {
      NIMBUS_ADMIN_KEY: '',
    });
    try {
      for (let i = 0; i < 150 && !existsSync(join(dataDir, 'server.url')); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(readFileSync(join(dataDir, 'server.url'), 'utf8').trim(), 'http://127.0.0.1:8081');
      // No --url, no NIMBUS_URL, no config file: the data dir tells the CLI where the server is.
      const env: NodeJS.ProcessEnv = { ...process.env, NIMBUS_DATA_DIR: dataDir, XDG_CONFIG_HOME: xdg };
      delete env.NIMBUS_URL;
      delete env.NIMBUS_KEY;
      const list = await runCli(env, ['functions', 'list']);
      assert.equal(list.code, 0, list.stderr);

      const wrongKey = await runCli(env, ['functions', 'list', '--key', 'not-the-admin-key']);
      assert.equal(wrongKey.code, 1);
      assert.match(wrongKey.stderr, /Nimbus at http:\/\/127\.0\.0\.1:8081 refused the request/);

      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0);
      assert.equal(existsSync(join(dataDir, 'server.url')), false, 'the record goes with the server');
      assert.equal(existsSync(join(dataDir, 'server.lock')), false, 'and so does the lock');
      const gone = await runCli(env, ['functions', 'list', '--url', 'http://127.0.0.1:8081']);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /cannot reach Nimbus at http:\/\/127\.0\.0\.1:8081/);
    } finally {
      server.child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(xdg, { recursive: true, force: true });
    }
  });
});

describe('hostile operators: clearing async destinations from the CLI', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ prewarmPerRuntime: 0 });
    await nimbus.deploy('orders', 'node-esm', 'nodejs', 'index.handler', {
      async: {
        onFailure: { type: 'function', name: 'orders' },
        onSuccess: { type: 'function', name: 'orders' },
      },
    });
  });
  after(() => nimbus.close());

  it('`functions update --on-failure none --on-success none` clears both destinations', async () => {
    const env = {
      ...process.env,
      NIMBUS_URL: nimbus.url,
      NIMBUS_KEY: nimbus.key,
      XDG_CONFIG_HOME: nimbus.dataDir,
    };
    const update = await runCli(env, ['functions', 'update', 'orders', '--on-failure', 'none']);
    assert.equal(update.code, 0, update.stderr);
    let fn = (await nimbus.request('GET', '/v1/functions/orders')).body;
    assert.equal(fn.async.onFailure ?? null, null);
    assert.deepEqual(fn.async.onSuccess, { type: 'function', name: 'orders' });
    const both = await runCli(env, ['functions', 'update', 'orders', '--on-success', 'none']);
    assert.equal(both.code, 0, both.stderr);
    fn = (await nimbus.request('GET', '/v1/functions/orders')).body;
    assert.equal(fn.async.onSuccess ?? null, null);
  });
});
