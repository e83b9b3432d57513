/**
 * Hostile functions reaching for the kernel and for each other: nested user namespaces, bpf,
 * userfaultfd, io_uring, keyrings, ptrace and mounts answer EPERM (the seccomp filter); every
 * running instance has a user of its own, so one cannot signal another or read its environment;
 * a server that cannot isolate functions refuses to start unless told `--sandbox none`, and no
 * secret of the server reaches the launcher that starts sandboxes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN } from '../helpers/cli.js';
import { startTestServer, waitFor, type TestServer } from '../helpers/harness.js';
import { childrenOf, cmdline } from '../helpers/procs.js';

const asRoot = process.getuid?.() === 0;

describe('hostile: sandbox escapes (bubblewrap)', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ sandbox: 'bubblewrap' });
    await nimbus.deploy('escape', 'python-escape', 'python3', 'main.handler');
    await nimbus.deploy('escape-two', 'python-escape', 'python3', 'main.handler');
    await nimbus.deploy('node-peer', 'node-handlers', 'nodejs', 'index.handler');
    await nimbus.deploy('escape-pair', 'python-escape', 'python3', 'main.handler', { minInstances: 2 });
  });
  after(() => nimbus.close());

  it('denies new namespaces, bpf, userfaultfd, io_uring, keyctl, ptrace and mount with EPERM', async () => {
    const res = await nimbus.invoke('escape', { action: 'probes' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, {
      'unshare(CLONE_NEWUSER)': 'EPERM',
      'unshare(CLONE_NEWNS)': 'EPERM',
      bpf: 'EPERM',
      userfaultfd: 'EPERM',
      io_uring_setup: 'EPERM',
      keyctl: 'EPERM',
      mount: 'EPERM',
      setns: 'EPERM',
      'ptrace(PTRACE_ATTACH, sibling)': 'EPERM',
      'ptrace(PTRACE_TRACEME)': 'EPERM',
    });
  });

  it('`unshare -Ur id` fails: no root in a nested user namespace', async () => {
    const res = await nimbus.invoke('escape', { action: 'unshare-command' });
    assert.equal(res.status, 200, res.text);
    assert.notEqual(res.body.code, 0, `unshare -Ur succeeded: ${res.body.stdout}`);
    assert.match(res.body.stderr, /Operation not permitted/);
    assert.doesNotMatch(res.body.stdout, /uid=0/);
  });

  it('gives two functions, and two instances of one function, different uids named in /etc/passwd', async (t) => {
    if (!asRoot) return t.skip('uids per instance need a root server');
    const one = (await nimbus.invoke('escape', { action: 'whoami' })).body;
    const two = (await nimbus.invoke('escape-two', { action: 'whoami' })).body;
    assert.notEqual(one.uid, two.uid, 'two functions share a uid');
    for (const who of [one, two]) {
      assert.ok(who.uid >= 200000 && who.uid <= 265535, `uid ${who.uid} outside the default range`);
      assert.match(who.passwd, new RegExp(`^nimbus:x:${who.uid}:${who.uid}:`));
    }
    // With two instances up and one call per instance, two calls at once run on both.
    await waitFor(
      async () => (await nimbus.request('GET', '/v1/stats')).body.functions['escape-pair']?.instances === 2,
      'two provisioned instances',
    );
    const both = await Promise.all([
      nimbus.invoke('escape-pair', { action: 'hold', seconds: 1 }),
      nimbus.invoke('escape-pair', { action: 'hold', seconds: 1 }),
    ]);
    const uids = both.map((res) => res.body.uid);
    assert.notEqual(uids[0], uids[1], `two instances of one function share uid ${uids[0]}`);
    const node = await nimbus.invoke('node-peer', {});
    assert.equal(node.status, 200, node.text);
  });

  it('reports seccomp, user-namespace denial and the uid range in the isolation report', async () => {
    const report = (await nimbus.request('GET', '/v1/doctor')).body;
    assert.ok(report.seccomp.includes('bpf') && report.seccomp.includes('userfaultfd'), report.seccomp);
    assert.equal(report.nestedUserNamespaces, 'denied');
    if (asRoot) assert.deepEqual(report.uidSeparation, { first: 200000, last: 265535 });
  });
});

describe('hostile: instances without a sandbox (--sandbox none, root server)', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ sandbox: 'none' });
    await nimbus.deploy('victim', 'python-escape', 'python3', 'main.handler');
    await nimbus.deploy('attacker', 'python-escape', 'python3', 'main.handler');
  });
  after(() => nimbus.close());

  it("cannot signal another function's instance or read its /proc/<pid>/environ", async (t) => {
    if (!asRoot) return t.skip('uids per instance need a root server');
    // Without a PID namespace the pid is the host's, and the victim's instance stays warm.
    const victim = (await nimbus.invoke('victim', { action: 'whoami' })).body;
    const reached = (await nimbus.invoke('attacker', { action: 'reach', pid: victim.pid })).body;
    assert.deepEqual(reached, { signal: 'EPERM', environ: 'EACCES' });
  });

  it('says plainly that functions are not isolated', async () => {
    const report = (await nimbus.request('GET', '/v1/doctor')).body;
    assert.equal(report.namespaces, false);
    assert.deepEqual(report.seccomp, []);
    assert.equal(report.nestedUserNamespaces, 'allowed');
    assert.ok(
      report.warnings.some((w: string) => w.includes('NO SANDBOX')),
      JSON.stringify(report.warnings),
    );
  });
});

/** Runs `nimbus server` as a process; resolves with its output once it listens or exits. */
function runServer(
  command: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ listening: boolean; output: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(command[0]!, command.slice(1), { env });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve) => {
    const done = (listening: boolean) =>
      resolve({
        listening,
        output,
        pid: child.pid!,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      });
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/listening on http/.test(output)) done(true);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => done(false));
  });
}

describe('hostile: a server that cannot isolate functions', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'nimbus-no-isolation-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  // The server runs where /usr/bin/bwrap cannot be executed (a mount namespace of bubblewrap's own).
  const withoutBubblewrap = (args: string[]) => [
    '/usr/bin/bwrap',
    ...['--die-with-parent', '--bind', '/', '/', '--dev-bind', '/dev', '/dev', '--proc', '/proc'],
    ...['--ro-bind', '/dev/null', '/usr/bin/bwrap', '--'],
    process.execPath,
    BIN,
    'server',
    ...['--port', '0', '--data-dir', dataDir, '--prewarm-per-runtime', '0'],
    ...args,
  ];
  const env = { ...process.env, NIMBUS_ADMIN_KEY: 'k'.repeat(24), NIMBUS_SANDBOX: '' };

  it('refuses to start, naming --sandbox none', async (t) => {
    if (!asRoot) return t.skip('hiding bubblewrap needs root');
    const server = await runServer(withoutBubblewrap([]), env);
    if (server.listening) await server.stop();
    assert.equal(server.listening, false, `the server started without isolation: ${server.output}`);
    assert.match(server.output, /--sandbox none/);
  });

  it('starts with --sandbox none, with a loud warning', async (t) => {
    if (!asRoot) return t.skip('hiding bubblewrap needs root');
    const server = await runServer(withoutBubblewrap(['--sandbox', 'none']), env);
    await server.stop();
    assert.equal(server.listening, true, server.output);
    assert.match(server.output, /NO SANDBOX/);
  });
});

describe('hostile: the launcher holds no secret of the server', () => {
  it("has no NIMBUS_ADMIN_KEY (nor anything else of the server's environment)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-launcher-env-'));
    const key = 's'.repeat(32);
    const server = await runServer(
      [process.execPath, BIN, 'server', '--port', '0', '--data-dir', dataDir, '--prewarm-per-runtime', '1'],
      { ...process.env, NIMBUS_ADMIN_KEY: key, NIMBUS_DATABASE_SECRET: 'also-secret' },
    );
    try {
      assert.ok(server.listening, server.output);
      let launcher: number | undefined;
      for (let i = 0; i < 150 && launcher === undefined; i++) {
        launcher = childrenOf(server.pid).find((pid) => cmdline(pid).includes('launcher-process.js'));
        if (launcher === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(launcher !== undefined, 'the pre-warmed pool started the launcher');
      const environ = readFileSync(`/proc/${launcher}/environ`, 'utf8');
      assert.ok(!environ.includes(key), 'the launcher holds the admin key');
      assert.ok(!environ.includes('NIMBUS_'), `the launcher holds the server's settings: ${environ}`);
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
