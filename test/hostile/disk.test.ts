/**
 * Hostile fixtures for the data dir's disk (issue 12): a zip bomb of zeros (200 KB zipped, 100 MB
 * unpacked) must not stay on disk once nothing refers to it: not after its function is deleted,
 * not after its code is replaced, and not after a restart that finds packages left behind.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
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
  const deploy = async (name: string, zip: Buffer) => {
    const res = await nimbus.request('POST', '/v1/functions', {
      json: {
        name,
        runtime: 'nodejs',
        handler: 'index.handler',
        code: { zipBase64: zip.toString('base64') },
      },
    });
    assert.equal(res.status, 201, res.text);
  };

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
});
