/**
 * Hostile fixtures for the data dir's disk (issue 12): a zip bomb of zeros (200 KB zipped, 100 MB
 * unpacked) must not stay on disk once nothing refers to it: not after its function is deleted,
 * not after its code is replaced, and not after a restart that finds packages left behind. A
 * deploy past the data dir's disk budget gets 507 and stores nothing; `nimbus doctor` shows usage.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startTestServer, waitFor, type TestServer } from '../helpers/harness.js';
import { rawZip } from '../helpers/raw-zip.js';

/** Bytes of the files under `dir` (0 when it does not exist). */
function bytesUnder(dir: string): number {
  if (!existsSync(dir)) return 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) bytes += statSync(join(entry.parentPath, entry.name)).size;
  }
  return bytes;
}

const HANDLER = "exports.handler = async () => 'ok';";
const bomb = rawZip([
  { name: 'index.js', data: HANDLER },
  { name: 'zeros.bin', data: Buffer.alloc(100 * 1024 * 1024), deflate: true },
]);
const small = rawZip([{ name: 'index.js', data: HANDLER }]);

describe('hostile: disk', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer();
  });
  after(() => nimbus.close());

  const packages = () => join(nimbus.dataDir, 'packages');
  const deploy = (name: string, zip: Buffer) => nimbus.deployZip(name, zip);

  it('leaves no unpacked bytes or archive of a zip bomb once its function is deleted', async () => {
    assert.ok(bomb.length < 300 * 1024, `the bomb is ${bomb.length} bytes zipped`);
    await deploy('bomb', bomb);
    assert.equal((await nimbus.invoke('bomb')).status, 200);
    assert.ok(bytesUnder(packages()) >= 100 * 1024 * 1024, 'the bomb was unpacked');
    assert.equal((await nimbus.request('DELETE', '/v1/functions/bomb')).status, 204);
    await waitFor(async () => bytesUnder(packages()) === 0, 'the unpacked bomb to be removed');
    await waitFor(async () => bytesUnder(join(nimbus.dataDir, 'code')) === 0, 'its archive to be removed');
  });

  it('removes the old package when the code is replaced, and keeps the one in use', async () => {
    await deploy('replaced', bomb);
    const update = await nimbus.request('PUT', '/v1/functions/replaced/code', {
      body: small,
      headers: { 'content-type': 'application/zip' },
    });
    assert.equal(update.status, 200, update.text);
    await waitFor(async () => bytesUnder(packages()) < 1024 * 1024, 'the replaced bomb to be removed');
    const invoke = await nimbus.invoke('replaced');
    assert.equal(invoke.status, 200, invoke.text);
    assert.equal(invoke.body, 'ok');
  });

  it('collects packages left behind when it starts', async () => {
    const leftover = join(packages(), 'ab'.repeat(32));
    mkdirSync(leftover, { recursive: true });
    writeFileSync(join(leftover, 'zeros.bin'), Buffer.alloc(1024 * 1024));
    nimbus = await nimbus.restart();
    assert.equal(existsSync(leftover), false, 'the leftover package is still there');
    assert.equal((await nimbus.invoke('replaced')).status, 200, 'the function in use still runs');
  });

  it('refuses a deploy past the disk budget with 507 naming the setting, and stores nothing', async () => {
    const tight = await startTestServer({ diskBudgetMb: 64 });
    try {
      const res = await tight.request('POST', '/v1/functions', {
        json: {
          name: 'too-big',
          runtime: 'nodejs',
          handler: 'index.handler',
          code: { zipBase64: bomb.toString('base64') },
        },
      });
      assert.equal(res.status, 507, res.text);
      assert.equal(res.body.error.code, 'INSUFFICIENT_STORAGE');
      assert.match(res.body.error.message, /diskBudgetMb/);
      assert.equal((await tight.request('GET', '/v1/functions/too-big')).status, 404);
      await waitFor(
        async () => bytesUnder(join(tight.dataDir, 'packages')) === 0,
        'the refused package to go',
      );
      assert.equal(bytesUnder(join(tight.dataDir, 'code')), 0, 'the refused archive was stored');

      const env = { ...process.env, NIMBUS_DATA_DIR: tight.dataDir, NIMBUS_DISK_BUDGET_MB: '64' };
      const doctor = await runCli(env, ['doctor', '--json']);
      assert.equal(doctor.code, 0, doctor.stderr);
      const usage = JSON.parse(doctor.stdout).dataDir;
      assert.equal(usage.budgetBytes, 64 * 1024 * 1024);
      assert.ok(usage.databaseBytes > 0 && usage.totalBytes >= usage.databaseBytes, doctor.stdout);
      const text = await runCli(env, ['doctor']);
      assert.match(text.stdout, /total .* of 64\.0 MB budget/);
    } finally {
      await tight.close();
    }
  });

  it("keeps a chatty function's logs within the per-function bound, dropping the oldest first", async () => {
    const bound = 2 * 1024 * 1024;
    const logged = await startTestServer({ logBytesPerFunction: bound });
    try {
      const chatty =
        "exports.handler = async () => { for (let i = 0; i < 500; i++) console.log('y'.repeat(1000)); return 'ok'; };";
      const res = await logged.request('POST', '/v1/functions', {
        json: {
          name: 'chatty',
          runtime: 'nodejs',
          handler: 'index.handler',
          code: { zipBase64: rawZip([{ name: 'index.js', data: chatty }]).toString('base64') },
        },
      });
      assert.equal(res.status, 201, res.text);
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const call = await logged.invoke('chatty');
        assert.equal(call.status, 200, call.text);
        ids.push(call.headers.get('x-nimbus-execution-id')!);
      }
      const logBytes = async () => {
        let bytes = 0;
        for (const id of ids) {
          const lines = (await logged.request('GET', `/v1/executions/${id}/logs`)).body.lines as {
            message: string;
          }[];
          bytes += lines.reduce((sum, l) => sum + l.message.length + 64, 0);
        }
        return bytes;
      };
      await waitFor(async () => (await logBytes()) <= bound, 'the logs to be pruned to the bound', 60_000);
      const newest = (await logged.request('GET', `/v1/executions/${ids.at(-1)}/logs`)).body.lines;
      assert.ok(
        newest.filter((l: { message: string }) => l.message.includes('yyyy')).length === 500,
        'the newest log is whole',
      );
      const oldest = (await logged.request('GET', `/v1/executions/${ids[0]}/logs`)).body.lines;
      assert.equal(
        oldest.filter((l: { message: string }) => l.message.includes('yyyy')).length,
        0,
        'the oldest log went first',
      );
      assert.equal((await logged.request('GET', `/v1/executions/${ids[0]}`)).status, 200, 'its record stays');
    } finally {
      await logged.close();
    }
  });
});
