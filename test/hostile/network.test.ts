/**
 * Hostile fixtures for network isolation: a function must not reach the host's loopback services
 * (Redis, the Nimbus API), the host's other addresses, the metadata address or private networks,
 * must not open a port the host can reach, and must not meet another function over an abstract
 * Unix socket; with the default network it still reaches the internet, with `none` it does not.
 * The "internet" is a network namespace of the test's own at documentation addresses
 * (203.0.113.1), which also answers at 169.254.169.254 and 10.99.0.1 so that those addresses are
 * reachable from the host: only the sandbox's filter keeps functions away. Runs as root (the
 * namespace pool and the fake internet need it), against bubblewrap.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { startTestServer, waitFor, type TestServer } from '../helpers/harness.js';

const FAKE_NS = `nimbus-test-inet-${process.pid}`;
const FAKE_IF = `nti${process.pid % 100_000}`;
const INTERNET = '203.0.113.1';
const METADATA = '169.254.169.254';
const PRIVATE = '10.99.0.1';
const HTTP_PORT = 8000;

function ip(...args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr}`);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** The host's first non-loopback IPv4 address that is not a sandbox's or the test's own. */
function hostAddress(): string {
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    if (name.startsWith('nmb') || name === FAKE_IF) continue;
    const v4 = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (v4) return v4.address;
  }
  throw new Error('the host has no non-loopback IPv4 address');
}

/** A namespace standing in for the internet, serving HTTP at 203.0.113.1, 169.254.169.254 and 10.99.0.1. */
function startFakeInternet(): { http: ChildProcess; dir: string } {
  spawnSync('ip', ['netns', 'del', FAKE_NS]);
  ip('netns', 'add', FAKE_NS);
  ip('link', 'add', FAKE_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', FAKE_NS);
  ip('addr', 'add', '203.0.113.2/24', 'dev', FAKE_IF);
  ip('link', 'set', FAKE_IF, 'up');
  ip('-n', FAKE_NS, 'link', 'set', 'lo', 'up');
  ip('-n', FAKE_NS, 'addr', 'add', `${INTERNET}/24`, 'dev', 'eth0');
  ip('-n', FAKE_NS, 'addr', 'add', `${METADATA}/32`, 'dev', 'lo');
  ip('-n', FAKE_NS, 'addr', 'add', `${PRIVATE}/32`, 'dev', 'lo');
  ip('-n', FAKE_NS, 'link', 'set', 'eth0', 'up');
  ip('-n', FAKE_NS, 'route', 'add', 'default', 'via', '203.0.113.2');
  ip('route', 'add', `${METADATA}/32`, 'via', INTERNET);
  ip('route', 'add', `${PRIVATE}/32`, 'via', INTERNET);
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-fake-internet-'));
  writeFileSync(join(dir, 'hello.txt'), 'hello from the internet\n');
  const http = spawn(
    'ip',
    ['netns', 'exec', FAKE_NS, 'python3', '-m', 'http.server', String(HTTP_PORT), '--bind', '0.0.0.0'],
    { cwd: dir, stdio: 'ignore' },
  );
  return { http, dir };
}

describe('hostile: network isolation', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  let nimbus: TestServer;
  let fake: { http: ChildProcess; dir: string };
  let hostListener: Server;
  let hostListenerPort: number;

  before(async () => {
    fake = startFakeInternet();
    await waitFor(() => canConnect(INTERNET, HTTP_PORT), 'the fake internet to serve HTTP');
    hostListener = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.end('host service\n');
    });
    await new Promise<void>((resolve) => hostListener.listen(0, '0.0.0.0', resolve));
    hostListenerPort = (hostListener.address() as { port: number }).port;
    nimbus = await startTestServer({ sandbox: 'bubblewrap' });
    await nimbus.deploy('prober', 'python-network', 'python3', 'main.handler');
    await nimbus.deploy('other-prober', 'python-network', 'python3', 'main.handler');
  });

  after(async () => {
    await nimbus?.close();
    hostListener?.close();
    fake?.http.kill('SIGKILL');
    spawnSync('ip', ['route', 'del', `${METADATA}/32`]);
    spawnSync('ip', ['route', 'del', `${PRIVATE}/32`]);
    spawnSync('ip', ['netns', 'del', FAKE_NS]); // takes the veth pair with it
    if (fake) rmSync(fake.dir, { recursive: true, force: true });
  });

  const connect = async (fn: string, host: string, port: number) =>
    (await nimbus.invoke(fn, { action: 'connect', host, port })).body as {
      connected: boolean;
      error?: string;
    };

  it("cannot reach the host's loopback services: Redis and the Nimbus API", async () => {
    assert.equal(
      await canConnect('127.0.0.1', 6379),
      true,
      'Redis must be running on the host for this test',
    );
    assert.equal((await connect('prober', '127.0.0.1', 6379)).connected, false, 'Redis on 127.0.0.1:6379');
    const apiPort = Number(new URL(nimbus.url).port);
    assert.equal((await connect('prober', '127.0.0.1', apiPort)).connected, false, 'the Nimbus API');
  });

  it("cannot reach the host on its non-loopback address, not even the API's port there", async () => {
    const host = hostAddress();
    assert.equal(await canConnect(host, hostListenerPort), true);
    assert.equal(
      (await connect('prober', host, hostListenerPort)).connected,
      false,
      `${host}:${hostListenerPort}`,
    );
    assert.equal(
      (await connect('prober', '203.0.113.2', hostListenerPort)).connected,
      false,
      'the host via its veth',
    );
  });

  it('cannot reach the metadata address or a private network', async () => {
    assert.equal(
      await canConnect(METADATA, HTTP_PORT),
      true,
      'the host itself reaches the fake metadata address',
    );
    assert.equal(await canConnect(PRIVATE, HTTP_PORT), true);
    assert.equal((await connect('prober', METADATA, HTTP_PORT)).connected, false, METADATA);
    assert.equal((await connect('prober', PRIVATE, HTTP_PORT)).connected, false, PRIVATE);
  });

  it('opens no port the host can reach', async () => {
    const port = 20_000 + (process.pid % 20_000);
    assert.deepEqual((await nimbus.invoke('prober', { action: 'listen', port })).body, { listening: true });
    assert.equal(await canConnect('127.0.0.1', port), false, 'the function listens on a host port');
  });

  it('meets no other function over an abstract Unix socket', async () => {
    const name = `nimbus-test-${process.pid}`;
    assert.deepEqual((await nimbus.invoke('prober', { action: 'abstract-listen', name })).body, {
      listening: true,
    });
    const attempt = (await nimbus.invoke('other-prober', { action: 'abstract-connect', name })).body;
    assert.equal(attempt.connected, false, 'another function connected to the abstract socket');
  });

  it("reaches the internet with the default network, and not with network 'none'", async () => {
    const url = `http://${INTERNET}:${HTTP_PORT}/hello.txt`;
    await nimbus.deploy('offline', 'python-network', 'python3', 'main.handler', { network: 'none' });
    assert.deepEqual((await nimbus.invoke('prober', { action: 'get', url })).body, {
      status: 200,
      body: 'hello from the internet\n',
    });
    const offline = (await nimbus.invoke('offline', { action: 'get', url })).body;
    assert.ok(offline.error, `network 'none' fetched ${JSON.stringify(offline)}`);
    const fn = (await nimbus.request('GET', '/v1/functions/offline')).body;
    assert.equal(fn.network, 'none');
  });

  it('switches a function between none and internet on update', async () => {
    const url = `http://${INTERNET}:${HTTP_PORT}/hello.txt`;
    const res = await nimbus.request('PATCH', '/v1/functions/offline', { json: { network: 'internet' } });
    assert.equal(res.status, 200, res.text);
    assert.equal((await nimbus.invoke('offline', { action: 'get', url })).body.status, 200);
    await nimbus.request('PATCH', '/v1/functions/offline', { json: { network: 'none' } });
    assert.ok((await nimbus.invoke('offline', { action: 'get', url })).body.error);
  });

  it('refuses an unknown network setting with a message saying what to give', async () => {
    const res = await nimbus.request('PATCH', '/v1/functions/prober', { json: { network: 'host' } });
    assert.equal(res.status, 400);
    assert.match(res.text, /internet|none/);
  });

  it('reports the network isolation in force', async () => {
    const report = (await nimbus.request('GET', '/v1/doctor')).body;
    assert.equal(report.network.ownNamespace, true);
    assert.equal(report.network.egress, 'filtered');
    assert.ok(report.network.deniedRanges.includes('169.254.0.0/16'));
    assert.ok(report.network.deniedRanges.includes('10.0.0.0/8'));
  });

  it('lets functions reach what the operator allows, and nothing else of the denied ranges', async () => {
    const allowing = await startTestServer({ sandbox: 'bubblewrap', egressAllow: `${PRIVATE}/32` });
    try {
      await allowing.deploy('allowed', 'python-network', 'python3', 'main.handler');
      const reach = async (host: string) =>
        (
          (await allowing.invoke('allowed', { action: 'connect', host, port: HTTP_PORT })).body as {
            connected: boolean;
          }
        ).connected;
      assert.equal(await reach(PRIVATE), true, `${PRIVATE} is on the allow-list`);
      assert.equal(await reach(METADATA), false, `${METADATA} is not`);
    } finally {
      await allowing.close();
    }
  });

  it('refuses an allow-list entry that is not an IPv4 address or range, naming it', () => {
    assert.throws(
      () => loadConfig({ egressAllow: '10.1.2.0/24,db.internal:5432' }, {}, undefined),
      /--egress-allow: 'db\.internal:5432' is not an IPv4 address or CIDR range/,
    );
    assert.throws(() => loadConfig({ sandboxSubnet: '10.231.0.0/24' }, {}, undefined), /\/23 or larger/);
  });
});
