/**
 * The bubblewrap sandbox driver: each instance gets its own mount, PID, IPC and UTS namespaces,
 * sees only /usr (read-only), a minimal /etc, its own code and the runtime (read-only), and a
 * private size-capped /tmp; it runs as an unprivileged user. Memory, process count and CPU share
 * are enforced by a cgroup the process joins before it executes anything.
 * It must never mount the platform's data dir or another function's code.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IsolationReport, SandboxDriver, SandboxProcess, SandboxSpec } from '../core/ports.js';
import type { CgroupSupport } from './cgroups.js';
import { substitutePaths, wrapChild } from './child-sandbox.js';

export const BWRAP = '/usr/bin/bwrap';

/** Host files under /etc a runtime needs: dynamic linker cache, name resolution, TLS roots, time zone. */
const ETC_FILES = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'nsswitch.conf',
  'hosts',
  'resolv.conf',
  'ssl',
  'ca-certificates',
  'ca-certificates.conf',
  'alternatives',
  'localtime',
  'mime.types',
];

/** /usr read-only, plus /bin, /lib and friends as the host has them (symlinks into /usr or directories). */
export function systemMountArgs(): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const dir of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const host = `/${dir}`;
    if (!existsSync(host)) continue;
    if (lstatSync(host).isSymbolicLink()) args.push('--symlink', `usr/${dir}`, host);
    else args.push('--ro-bind', host, host);
  }
  return args;
}

export interface BubblewrapOptions {
  cgroups: CgroupSupport;
  /** User the sandbox runs as when Nimbus itself runs as root. */
  sandboxUid: number;
  /** Directory for files the driver generates (a minimal /etc/passwd). */
  stateDir: string;
}

export class BubblewrapSandbox implements SandboxDriver {
  readonly name = 'bubblewrap';
  private readonly baseArgs: string[];
  private readonly runAs: { uid: number; gid: number } | undefined;

  constructor(private readonly options: BubblewrapOptions) {
    const isRoot = process.getuid?.() === 0;
    this.runAs = isRoot ? { uid: options.sandboxUid, gid: options.sandboxUid } : undefined;
    const uid = this.runAs?.uid ?? process.getuid?.() ?? 65534;
    const gid = this.runAs?.gid ?? process.getgid?.() ?? 65534;
    mkdirSync(options.stateDir, { recursive: true, mode: 0o755 });
    const passwd = join(options.stateDir, 'passwd');
    writeFileSync(passwd, `nimbus:x:${uid}:${gid}:nimbus function:/tmp:/usr/sbin/nologin\n`, { mode: 0o644 });
    const group = join(options.stateDir, 'group');
    writeFileSync(group, `nimbus:x:${gid}:\n`, { mode: 0o644 });

    const args = [
      '--unshare-user',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-cgroup-try',
      '--uid',
      String(uid),
      '--gid',
      String(gid),
      '--hostname',
      'nimbus',
      '--die-with-parent',
      '--new-session',
      '--clearenv',
      ...systemMountArgs(),
    ];
    for (const name of ETC_FILES) {
      if (existsSync(`/etc/${name}`)) args.push('--ro-bind', `/etc/${name}`, `/etc/${name}`);
    }
    args.push('--ro-bind', passwd, '/etc/passwd', '--ro-bind', group, '/etc/group');
    args.push('--proc', '/proc', '--dev', '/dev');
    this.baseArgs = args;
  }

  async spawn(spec: SandboxSpec): Promise<SandboxProcess> {
    const { command, env } = substitutePaths(spec, '/code', '/nimbus/runtime');
    // Directories are passed as open descriptors, so the unprivileged sandbox user never needs
    // to traverse the (private) data dir to reach them.
    const codeFd = openSync(spec.codeDir, constants.O_RDONLY | constants.O_DIRECTORY);
    const runtimeFd = openSync(spec.runtimeDir, constants.O_RDONLY | constants.O_DIRECTORY);
    const hostArgs = spec.hostPaths.flatMap((p) => ['--ro-bind', p, p]);
    const envArgs = Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]);
    const args = [
      ...this.baseArgs,
      '--size',
      String(spec.tmpSizeMb * 1024 * 1024),
      '--tmpfs',
      '/tmp',
      '--ro-bind-fd',
      '6',
      '/code',
      '--ro-bind-fd',
      '7',
      '/nimbus/runtime',
      ...hostArgs,
      '--chdir',
      '/code',
      ...envArgs,
      '--info-fd',
      '4',
      '--block-fd',
      '5',
      '--',
      ...command,
    ];
    const cgroup =
      this.options.cgroups.version === 'none'
        ? undefined
        : this.options.cgroups.create(spec.instanceId, {
            memoryBytes: spec.memoryMb * 1024 * 1024,
            maxProcesses: spec.maxProcesses,
            memoryMb: spec.memoryMb,
          });
    let child;
    try {
      child = spawn(BWRAP, args, {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', codeFd, runtimeFd],
        env: {},
        detached: true,
        ...(this.runAs ?? {}),
      });
    } finally {
      closeSync(codeFd);
      closeSync(runtimeFd);
    }
    const sandbox = wrapChild(child, cgroup);
    try {
      const childPid = await readChildPid(child.stdio[4] as NodeJS.ReadableStream, sandbox.exited);
      cgroup?.addProcess(childPid);
      // Only now, inside its cgroup, may the sandbox run anything.
      (child.stdio as unknown as NodeJS.WritableStream[])[5]!.end('1');
    } catch (err) {
      await sandbox.kill();
      throw err;
    }
    return sandbox;
  }

  isolation(): IsolationReport {
    const cg =
      this.options.cgroups.version === 'none' ? 'none' : (`cgroup-${this.options.cgroups.version}` as const);
    const warnings: string[] = [];
    if (cg === 'none') {
      warnings.push(
        `${this.options.cgroups.reason}: memory and process limits are not enforced (Node heap size is capped)`,
      );
    }
    return {
      driver: this.name,
      namespaces: true,
      readOnlyCode: true,
      unprivilegedUser: this.runAs !== undefined || process.getuid?.() !== 0,
      memoryLimit: cg,
      processLimit: cg,
      cpuShares: cg,
      warnings,
    };
  }
}

function readChildPid(info: NodeJS.ReadableStream, exited: Promise<unknown>): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (match) {
        info.off('data', onData);
        resolve(Number(match[1]));
      }
    };
    info.on('data', onData);
    void exited.then(() => reject(new Error('bubblewrap exited before starting the sandbox')));
  });
}
