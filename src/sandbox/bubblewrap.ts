/**
 * The bubblewrap sandbox driver: each instance gets its own mount, PID, IPC and UTS namespaces,
 * sees only /usr (read-only), a minimal /etc, its own code, its layers at /opt and the runtime (read-only), and a
 * private size-capped /tmp; it runs as an unprivileged user. Memory, process count and CPU share
 * are enforced by a cgroup the process joins before it executes anything.
 * It must never mount the platform's data dir or another function's code.
 */
import { existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IsolationReport, SandboxDriver, SandboxProcess, SandboxSpec } from '../core/ports.js';
import type { CgroupSupport } from './cgroups.js';
import { launchSandbox, substitutePaths } from './child-sandbox.js';
import { Launcher } from './launcher.js';
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

export interface BubblewrapOptions {
  cgroups: CgroupSupport;
  /** User the sandbox runs as when Nimbus itself runs as root. */
  sandboxUid: number;
  /** Directory for files the driver generates (a minimal /etc/passwd). */
  stateDir: string;
  /** Each sandbox's network namespace and egress (see network.ts). */
  network: NetworkIsolation;
}

export const SETPRIV = '/usr/bin/setpriv';

export class BubblewrapSandbox implements SandboxDriver {
  readonly name = 'bubblewrap';
  private readonly baseArgs: string[];
  /** Run before the runtime inside the sandbox: drops root to the sandbox user (empty when not root). */
  private readonly dropPrivileges: string[];
  /** Starts the sandbox processes, so forking never stalls the server's event loop. */
  private readonly launcher = new Launcher();

  constructor(private readonly options: BubblewrapOptions) {
    const isRoot = process.getuid?.() === 0;
    const uid = isRoot ? options.sandboxUid : (process.getuid?.() ?? 65534);
    const gid = isRoot ? options.sandboxUid : (process.getgid?.() ?? 65534);
    mkdirSync(options.stateDir, { recursive: true, mode: 0o755 });
    const passwd = join(options.stateDir, 'passwd');
    writeFileSync(passwd, `nimbus:x:${uid}:${gid}:nimbus function:/tmp:/usr/sbin/nologin\n`, { mode: 0o644 });
    const group = join(options.stateDir, 'group');
    writeFileSync(group, `nimbus:x:${gid}:\n`, { mode: 0o644 });

    // As root, bubblewrap sets the sandbox up with root's rights (so it can mount code from
    // private directories) and setpriv then becomes the unprivileged user, with no capabilities
    // and no way back, before anything of the function runs. As another user, bubblewrap uses a
    // user namespace and the function runs as that user.
    this.dropPrivileges = isRoot
      ? [
          SETPRIV,
          `--reuid=${uid}`,
          `--regid=${gid}`,
          '--clear-groups',
          '--inh-caps=-all',
          '--bounding-set=-all',
          '--no-new-privs',
          '--',
        ]
      : [];
    const args = [
      ...(isRoot ? [] : ['--unshare-user']),
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
    args.push('--ro-bind', passwd, '/etc/passwd', '--ro-bind', group, '/etc/group');
    args.push('--proc', '/proc', '--dev', '/dev');
    this.baseArgs = args;
  }

  async spawn(spec: SandboxSpec): Promise<SandboxProcess> {
    const { command, env } = substitutePaths(spec, '/code', '/nimbus/runtime', '/opt');
    const tmpBytes = String(spec.tmpSizeMb * 1024 * 1024);
    const args = [
      ...this.baseArgs,
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
      ...this.dropPrivileges,
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
      const sandbox = await launchSandbox(this.launcher, { ...command, env: {}, handshake: true }, cgroup);
      void sandbox.exited.then(() => network.release());
      return { ...sandbox, connectNetwork: (choice) => network.connect(choice) };
    } catch (err) {
      network.release();
      throw new Error(`bubblewrap failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.launcher.close();
    await this.options.network.close();
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
    const network = this.options.network.report();
    if (network.warning) warnings.push(network.warning);
    return {
      driver: this.name,
      namespaces: true,
      readOnlyCode: true,
      unprivilegedUser: true,
      memoryLimit: cg,
      processLimit: cg,
      cpuShares: cg,
      network,
      warnings,
    };
  }
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
