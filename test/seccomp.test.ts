/**
 * The seccomp program generator, tested by running real programs under the filter it compiles
 * (installed by bubblewrap as the driver installs it): the denied calls answer EPERM (clone3
 * ENOSYS), and what legitimate code needs (threads, fork, subprocesses, Node's worker threads and
 * child processes, unshare without namespace flags) still works.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildSeccompProgram, hostSeccompArch } from '../src/sandbox/seccomp.js';

const arch = hostSeccompArch();

describe(
  'seccomp filter',
  { skip: arch === undefined ? `no syscall tables for ${process.arch}` : false },
  () => {
    let dir: string;
    let program: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'nimbus-seccomp-'));
      program = join(dir, 'filter.bpf');
      writeFileSync(program, buildSeccompProgram(arch!));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    /** Runs a command under the filter (fd 3), in a sandbox that sees the host read-only. */
    const underFilter = (command: string[]) => {
      const fd = openSync(program, 'r');
      try {
        return spawnSync(
          '/usr/bin/bwrap',
          [
            '--ro-bind',
            '/',
            '/',
            '--dev',
            '/dev',
            '--proc',
            '/proc',
            '--tmpfs',
            '/tmp',
            '--seccomp',
            '3',
            '--',
            ...command,
          ],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', fd], timeout: 30_000 },
        );
      } finally {
        closeSync(fd);
      }
    };

    const python = (source: string) => underFilter(['/usr/bin/python3', '-c', source]);

    it('answers EPERM to the calls it denies, ENOSYS to clone3', () => {
      const numbers =
        arch === 'x86_64'
          ? {
              unshare: 272,
              bpf: 321,
              userfaultfd: 323,
              io_uring_setup: 425,
              keyctl: 250,
              ptrace: 101,
              mount: 165,
              setns: 308,
              clone3: 435,
              perf_event_open: 298,
              init_module: 175,
              kexec_load: 246,
              personality: 135,
            }
          : {
              unshare: 97,
              bpf: 280,
              userfaultfd: 282,
              io_uring_setup: 425,
              keyctl: 219,
              ptrace: 117,
              mount: 40,
              setns: 268,
              clone3: 435,
              perf_event_open: 241,
              init_module: 105,
              kexec_load: 104,
              personality: 92,
            };
      const probe = `
import ctypes, errno, json
libc = ctypes.CDLL(None, use_errno=True)
n = ${JSON.stringify(numbers)}
def call(nr, *a):
    ctypes.set_errno(0)
    r = libc.syscall(nr, *[ctypes.c_long(x) for x in a])
    return errno.errorcode.get(ctypes.get_errno(), 'ok') if r == -1 else 'ok'
print(json.dumps({
  'unshare(CLONE_NEWUSER)': call(n['unshare'], 0x10000000),
  'unshare(CLONE_NEWNET)': call(n['unshare'], 0x40000000),
  'unshare(CLONE_NEWTIME)': call(n['unshare'], 0x80),
  'bpf': call(n['bpf'], 0, 0, 0),
  'userfaultfd': call(n['userfaultfd'], 0),
  'io_uring_setup': call(n['io_uring_setup'], 1, 0),
  'keyctl': call(n['keyctl'], 0, -3, 0),
  'ptrace': call(n['ptrace'], 0, 0, 0, 0),
  'mount': call(n['mount'], 0, 0, 0, 0, 0),
  'setns': call(n['setns'], 0, 0),
  'perf_event_open': call(n['perf_event_open'], 0, 0, -1, -1, 0),
  'init_module': call(n['init_module'], 0, 0, 0),
  'kexec_load': call(n['kexec_load'], 0, 0, 0, 0),
  'personality(ADDR_NO_RANDOMIZE)': call(n['personality'], 0x0040000),
  'clone3': call(n['clone3'], 0, 0),
  'unshare(CLONE_FS)': call(n['unshare'], 0x200),
  'personality(query)': call(n['personality'], 0xffffffff),
}))`;
      const run = python(probe);
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), {
        'unshare(CLONE_NEWUSER)': 'EPERM',
        'unshare(CLONE_NEWNET)': 'EPERM',
        'unshare(CLONE_NEWTIME)': 'EPERM',
        bpf: 'EPERM',
        userfaultfd: 'EPERM',
        io_uring_setup: 'EPERM',
        keyctl: 'EPERM',
        ptrace: 'EPERM',
        mount: 'EPERM',
        setns: 'EPERM',
        perf_event_open: 'EPERM',
        init_module: 'EPERM',
        kexec_load: 'EPERM',
        'personality(ADDR_NO_RANDOMIZE)': 'EPERM',
        clone3: 'ENOSYS',
        'unshare(CLONE_FS)': 'ok',
        'personality(query)': 'ok',
      });
    });

    it('answers ENOSYS to syscall(-1) and kills a process that makes an x32 system call', () => {
      const probe = python(`
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
print(errno.errorcode[ctypes.get_errno()] if libc.syscall(-1) == -1 else 'ok', flush=True)
${arch === 'x86_64' ? 'libc.syscall(0x40000000 + 39)' : ''}
print('survived', flush=True)`);
      assert.match(probe.stdout, /^ENOSYS\n/);
      if (arch === 'x86_64') {
        assert.doesNotMatch(probe.stdout, /survived/, 'an x32 system call ran');
        assert.notEqual(probe.status, 0);
      }
    });

    it('stops `unshare -Ur` and `unshare -m`', () => {
      for (const args of [
        ['-Ur', 'id'],
        ['-m', 'true'],
      ]) {
        const run = underFilter(['/usr/bin/unshare', ...args]);
        assert.notEqual(run.status, 0, `unshare ${args.join(' ')} succeeded: ${run.stdout}`);
        assert.match(run.stderr, /Operation not permitted/);
      }
    });

    it('lets Python threads, fork, subprocess and multiprocessing run', () => {
      const run = python(`
import multiprocessing, os, subprocess, threading
t = threading.Thread(target=lambda: None); t.start(); t.join()
pid = os.fork()
if pid == 0: os._exit(7)
assert os.waitpid(pid, 0)[1] >> 8 == 7
assert subprocess.run(['/usr/bin/true']).returncode == 0
with multiprocessing.Pool(2) as pool: assert pool.map(abs, [-1, -2]) == [1, 2]
print('fine')`);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), 'fine');
    });

    it("lets Node's worker threads and child processes run", () => {
      const run = underFilter([
        process.execPath,
        '-e',
        `const { Worker } = require('node:worker_threads');
       const { execFileSync } = require('node:child_process');
       const out = execFileSync('/usr/bin/echo', ['child']).toString().trim();
       new Worker('require("node:worker_threads").parentPort.postMessage(6 * 7)', { eval: true })
         .on('message', (n) => console.log(out, n));`,
      ]);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), 'child 42');
    });
  },
);
