/**
 * The bubblewrap sandbox driver: each instance gets its own mount, PID, IPC and UTS namespaces,
 * sees only /usr (read-only), a minimal /etc, its own code, its layers at /opt and the runtime (read-only), and a
 * private size-capped /tmp; it runs as an unprivileged user of its own (one uid per running sandbox
 * when Nimbus runs as root), under a seccomp filter that denies new user namespaces and the
 * kernel's riskiest calls. Memory, process count and CPU share are enforced by a cgroup the
 * process joins before it executes anything.
 * It must never mount the platform's data dir or another function's code.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Runtime } from '../core/function.js';
import type { IsolationReport, SandboxDriver, SandboxProcess, SandboxRequest } from '../core/ports.js';
import { cgroupIsolation, type CgroupSupport } from './cgroups.js';
import {
  launchSandbox,
  substitutePaths,
  type HostSandboxProcess,
  type HostSandboxSpec,
} from './child-sandbox.js';
import type { HostRuntimes } from './host-runtimes.js';
import { Launcher } from './launcher.js';
import { buildSeccompProgram, hostSeccompArch, seccompDeniedCalls } from './seccomp.js';
import { UidPool, spawnWithOwnUid, writeUserFiles, type UidRange } from './uid-pool.js';
import type { NetworkIsolation } from './network.js';

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

interface BubblewrapOptions {
  /** The host interpreters and code slots the sandboxes run with. */
  runtimes: HostRuntimes;
  cgroups: CgroupSupport;
  /** User ids sandboxes run as when Nimbus itself runs as root, one per running sandbox. */
  sandboxUids: UidRange;
  /** Directory for files the driver generates (minimal /etc/passwd files, the seccomp program). */
  stateDir: string;
  /** Each sandbox's network namespace and egress (see network.ts). */
  network: NetworkIsolation;
}

export const SETPRIV = '/usr/bin/setpriv';

export class BubblewrapSandbox implements SandboxDriver {
  readonly name = 'bubblewrap';
  private readonly baseArgs: string[];
  private readonly isRoot = process.getuid?.() === 0;
  /** As root: the user ids sandboxes take and give back. Otherwise every sandbox runs as the server's user. */
  private readonly uids: UidPool | undefined;
  private readonly userFilesWritten = new Set<number>();
  /** /etc/passwd and /etc/group of the server's own user (not root). */
  private readonly ownUserFiles: { passwd: string; group: string } | undefined;
  /** The compiled seccomp filter, passed to bubblewrap as fd 6; undefined on an architecture without tables. */
  private readonly seccompFile: string | undefined;
  /** Not root: bubblewrap forbids further user namespaces inside its own (bubblewrap 0.8 and later). */
  private readonly disableUserns = !this.isRoot && bubblewrapSupports('--disable-userns');
  /** Starts the sandbox processes, so forking never stalls the server's event loop. */
  private readonly launcher = new Launcher();

  constructor(private readonly options: BubblewrapOptions) {
    const isRoot = this.isRoot;
    mkdirSync(options.stateDir, { recursive: true, mode: 0o755 });
    if (isRoot) this.uids = new UidPool(options.sandboxUids);
    else {
      const dir = join(options.stateDir, 'users', 'self');
      writeUserFiles(dir, process.getuid?.() ?? 65534, process.getgid?.() ?? 65534);
      this.ownUserFiles = { passwd: join(dir, 'passwd'), group: join(dir, 'group') };
    }
    const arch = hostSeccompArch();
    if (arch !== undefined) {
      this.seccompFile = join(options.stateDir, 'seccomp.bpf');
      writeFileSync(this.seccompFile, buildSeccompProgram(arch), { mode: 0o644 });
    }

    // As root, bubblewrap sets the sandbox up with root's rights (so it can mount code from
    // private directories) and setpriv then becomes the sandbox's own unprivileged user, with no
    // capabilities and no way back, before anything of the function runs. As another user,
    // bubblewrap uses a user namespace (in which no further one may be made) and the function
    // runs as that user.
    const args = [
      ...(isRoot ? [] : ['--unshare-user', ...(this.disableUserns ? ['--disable-userns'] : [])]),
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-cgroup-try',
      ...options.network.bwrapArgs,
      '--hostname',
      'nimbus',
      '--die-with-parent',
      '--new-session',
      '--clearenv',
      ...systemMountArgs(),
    ];
    args.push('--perms', '0755', '--dir', '/etc');
    for (const name of ETC_FILES) {
      if (existsSync(`/etc/${name}`)) args.push('--ro-bind', `/etc/${name}`, `/etc/${name}`);
    }
    args.push('--proc', '/proc', '--dev', '/dev');
    this.baseArgs = args;
  }

  start(request: SandboxRequest): Promise<SandboxProcess> {
    return this.options.runtimes.start(request, (spec) =>
      spawnWithOwnUid(this.uids, (uid) => this.spawnAs(uid, spec)),
    );
  }

  runtimeVersion(runtime: Runtime): string {
    return this.options.runtimes.runtimeVersion(runtime);
  }

  /**
   * A minimal /etc/passwd and /etc/group naming `uid` (the user the sandbox really runs as),
   * written the first time the id is used and kept for the server's lifetime.
   */
  private userFilesOf(uid: number): { passwd: string; group: string } {
    const dir = join(this.options.stateDir, 'users', String(uid));
    if (!this.userFilesWritten.has(uid)) {
      writeUserFiles(dir, uid, uid);
      this.userFilesWritten.add(uid);
    }
    return { passwd: join(dir, 'passwd'), group: join(dir, 'group') };
  }

  /** Starts one sandbox running as `uid` (as root) or as the server's user (otherwise). */
  private async spawnAs(uid: number | undefined, spec: HostSandboxSpec): Promise<HostSandboxProcess> {
    const users = uid === undefined ? this.ownUserFiles! : this.userFilesOf(uid);
    const { command, env } = substitutePaths(spec, '/code', '/nimbus/runtime', '/opt');
    const tmpBytes = String(spec.tmpSizeMb * 1024 * 1024);
    const args = [
      ...this.baseArgs,
      ...['--ro-bind', users.passwd, '/etc/passwd', '--ro-bind', users.group, '/etc/group'],
      ...(this.seccompFile === undefined ? [] : ['--seccomp', '6']),
      ...['--perms', '1777', '--size', tmpBytes, '--tmpfs', '/tmp'],
      ...['--perms', '1777', '--size', tmpBytes, '--tmpfs', '/dev/shm'],
      // Parent directories bubblewrap creates are private to root unless told otherwise.
      ...['--perms', '0755', '--dir', '/nimbus'],
      ...['--ro-bind', spec.codeDir, '/code', '--ro-bind', spec.runtimeDir, '/nimbus/runtime'],
      // The function's layers, merged; an empty directory for functions without layers. ES modules
      // ignore NODE_PATH but look in /node_modules after /code/node_modules: there they find the
      // layers' packages, as ES modules on Lambda do.
      ...['--ro-bind', spec.optDir, '/opt', '--symlink', 'opt/nodejs/node_modules', '/node_modules'],
      ...hostPathArgs(spec.hostPaths),
      ...['--chdir', '/code'],
      ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
      ...['--info-fd', '4', '--block-fd', '5'],
      '--',
      ...(uid === undefined ? [] : dropPrivileges(uid)),
      ...command,
    ];
    const cgroup =
      this.options.cgroups.version === 'none'
        ? undefined
        : this.options.cgroups.create(spec.instanceId, {
            memoryBytes: spec.memoryMb * 1024 * 1024,
            maxProcesses: spec.maxProcesses,
            memoryMb: spec.memoryMb,
            background: spec.background,
          });
    // fd 3: the instance channel; fd 4: bubblewrap's info (the sandbox's pid); fd 5: the go signal.
    let network;
    try {
      network = await this.options.network.acquire();
    } catch (err) {
      cgroup?.killAll();
      await cgroup?.remove().catch(() => undefined);
      throw new Error(`no network namespace for the sandbox: ${(err as Error).message}`, { cause: err });
    }
    try {
      const command = network.wrap(BWRAP, args);
      const sandbox = await launchSandbox(
        this.launcher,
        {
          ...command,
          env: {},
          handshake: true,
          ...(this.seccompFile === undefined ? {} : { seccompFile: this.seccompFile }),
        },
        cgroup,
      );
      void sandbox.exited.then(() => network.release());
      return { ...sandbox, connectNetwork: (choice) => network.connect(choice) };
    } catch (err) {
      network.release();
      throw new Error(`bubblewrap failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.options.runtimes.close();
    await this.launcher.close();
    this.options.cgroups.release();
    await this.options.network.close();
  }

  isolation(): IsolationReport {
    const cg =
      this.options.cgroups.version === 'none' ? 'none' : (`cgroup-${this.options.cgroups.version}` as const);
    const { warnings: cgroupWarnings, ...cpuAndNesting } = cgroupIsolation(this.options.cgroups);
    const warnings: string[] = [];
    if (cg === 'none') {
      warnings.push(
        `${this.options.cgroups.reason}: memory and process limits are not enforced (Node heap size is capped)`,
      );
    }
    if (!this.isRoot)
      warnings.push(
        "the server is not root: every function runs as the server's user (mapped in a user namespace); run it as root for a user id per instance",
      );
    if (this.seccompFile === undefined)
      warnings.push(
        `no seccomp filter for this architecture (${process.arch}): system calls are not filtered`,
      );
    const range = this.options.sandboxUids;
    warnings.push(...cgroupWarnings);
    const network = this.options.network.report();
    if (network.warning) warnings.push(network.warning);
    return {
      driver: this.name,
      namespaces: true,
      readOnlyCode: true,
      unprivilegedUser: true,
      seccomp: this.seccompFile === undefined ? [] : seccompDeniedCalls(),
      nestedUserNamespaces: this.seccompFile !== undefined || this.disableUserns ? 'denied' : 'allowed',
      uidSeparation: this.isRoot ? { first: range.first, last: range.last } : 'none',
      memoryLimit: cg,
      processLimit: cg,
      cpuShares: cg,
      ...cpuAndNesting,
      network,
      warnings,
    };
  }
}

/** Whether this bubblewrap knows an option (asked once, at start). */
function bubblewrapSupports(option: string): boolean {
  return spawnSync(BWRAP, ['--help'], { encoding: 'utf8', timeout: 5000 }).stdout?.includes(option) ?? false;
}

/** Becomes the sandbox's user (as root) with no capabilities, no groups and no way back. */
function dropPrivileges(uid: number): string[] {
  return [
    SETPRIV,
    `--reuid=${uid}`,
    `--regid=${uid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ];
}

/** Read-only binds of host directories at their own paths, with traversable parents. */
function hostPathArgs(paths: string[]): string[] {
  const args: string[] = [];
  const made = new Set<string>();
  for (const path of paths) {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const parent = `/${parts.slice(0, i).join('/')}`;
      if (made.has(parent) || parent === '/usr') continue;
      made.add(parent);
      args.push('--perms', '0755', '--dir', parent);
    }
    args.push('--ro-bind', path, path);
  }
  return args;
}
