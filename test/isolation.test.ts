/**
 * What a function must not see: the platform's data (database, admin key), other functions'
 * code, and host secrets. Runs against the bubblewrap sandbox.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/harness.js';

describe('sandbox isolation', () => {
  let nimbus: TestServer;
  let victimSha: string;
  before(async () => {
    // The data dir sits below a private (0700) directory, as under /root: sandboxes must still start.
    const privateParent = mkdtempSync(join(tmpdir(), 'nimbus-private-'));
    nimbus = await startTestServer({ sandbox: 'bubblewrap', dataDir: join(privateParent, 'data') });
    await nimbus.deploy('attacker', 'python-hostile', 'python3', 'main.handler');
    await nimbus.deploy('node-attacker', 'node-hostile', 'nodejs', 'index.handler');
    const victim = await nimbus.deploy('victim', 'python-lambda', 'python3', 'main.handler');
    victimSha = (victim.body as { codeSha256: string }).codeSha256;
  });
  after(() => nimbus.close());

  const read = async (fn: string, path: string) => (await nimbus.invoke(fn, { action: 'read', path })).body;

  it('reports the isolation in force', async () => {
    const res = await nimbus.request('GET', '/v1/doctor');
    assert.equal(res.body.driver, 'bubblewrap');
    assert.equal(res.body.namespaces, true);
    assert.equal(res.body.unprivilegedUser, true);
    assert.match(res.body.memoryLimit, /^cgroup-v[12]$/);
  });

  it("cannot read the platform's database or admin key", async () => {
    for (const file of ['nimbus.db', 'admin.key']) {
      const path = join(nimbus.dataDir, file);
      assert.equal((await read('attacker', path)).read, false, `python read ${path}`);
      assert.equal((await read('node-attacker', path)).read, false, `node read ${path}`);
    }
  });

  it("cannot read another function's code", async () => {
    const unpacked = join(nimbus.dataDir, 'packages', victimSha, 'main.py');
    assert.equal((await read('attacker', unpacked)).read, false);
    assert.equal((await read('node-attacker', unpacked)).read, false);
    const listing = (await nimbus.invoke('attacker', { action: 'listdir', path: nimbus.dataDir })).body;
    assert.ok(listing.error, `data dir must not be visible, got ${JSON.stringify(listing)}`);
  });

  it('cannot read host secrets', async () => {
    assert.equal((await read('attacker', '/etc/shadow')).read, false);
    assert.equal((await read('node-attacker', '/etc/shadow')).read, false);
    assert.equal((await read('attacker', '/root/.bashrc')).read, false);
  });

  it('sees its own code read-only and has a private writable /tmp', async () => {
    assert.equal((await read('attacker', '/code/main.py')).read, true);
    const write = (await nimbus.invoke('attacker', { action: 'write', path: '/code/evil.py' })).body;
    assert.equal(write.written, false);
    const tmp = (await nimbus.invoke('attacker', { action: 'write', path: '/tmp/scratch' })).body;
    assert.equal(tmp.written, true);
  });

  it('runs as an unprivileged user in its own PID namespace', async () => {
    const who = (await nimbus.invoke('attacker', { action: 'whoami' })).body;
    assert.notEqual(who.uid, 0);
    assert.ok(who.pid < 10, `pid ${who.pid} should be low in a fresh PID namespace`);
    assert.equal(who.hostname, 'nimbus');
    assert.equal(who.capEff, '0000000000000000', 'no effective capabilities');
    assert.equal(who.capBnd, '0000000000000000', 'no capabilities can be regained');
    assert.equal(who.noNewPrivs, '1', 'setuid binaries cannot raise privileges');
    assert.ok(!who.groups.includes(0), 'not in the root group');
  });
});
