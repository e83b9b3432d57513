/**
 * `--sandbox none`: no sandbox, only for operators who trust every function. Each function runs as
 * a plain child process in a session of its own (as an unprivileged user of its own from the uid
 * range when Nimbus runs as root, as the server's own user otherwise), with the memory cap applied
 * by the runtime (RLIMIT_AS for Python, heap size for Node) and cgroups when they are writable. The
 * function sees the host's file system with its user's rights and no system call is filtered; run
 * as the server's user it can read the database and the admin key. The server uses it only when
 * asked by name, and `nimbus doctor` and the start-up warning say all of this plainly.
 */
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
import { UidPool, spawnWithOwnUid, type UidRange } from './uid-pool.js';

export class ProcessSandbox implements SandboxDriver {
  readonly name = 'process';
  /** As root: a user id of its own for each running process. Otherwise all run as the server's user. */
  private readonly uids: UidPool | undefined;
  private readonly launcher = new Launcher();

  constructor(
    private readonly cgroups: CgroupSupport,
    sandboxUids: UidRange,
    /** Why functions run without a sandbox (the operator's choice), for the warnings. */
    private readonly reason: string,
    /** The host interpreters and code slots the processes run with. */
    private readonly runtimes: HostRuntimes,
  ) {
    this.uids = process.getuid?.() === 0 ? new UidPool(sandboxUids) : undefined;
  }

  start(request: SandboxRequest): Promise<SandboxProcess> {
    return this.runtimes.start(request, (spec) => this.spawnCommand(spec));
  }

  runtimeVersion(runtime: Runtime): string {
    return this.runtimes.runtimeVersion(runtime);
  }

  /** Runs a host command line as a plain process (what `start` does for a runtime). */
  spawnCommand(spec: HostSandboxSpec): Promise<HostSandboxProcess> {
    return spawnWithOwnUid(this.uids, (uid) => this.spawnAs(uid, spec));
  }

  private async spawnAs(uid: number | undefined, spec: HostSandboxSpec): Promise<HostSandboxProcess> {
    // No mount namespace: the runtime finds the layers at the host path in NIMBUS_OPT_DIR, not at /opt.
    const { command, env } = substitutePaths(spec, spec.codeDir, spec.runtimeDir, spec.optDir);
    const [program, ...args] = command;
    const cgroup =
      this.cgroups.version === 'none'
        ? undefined
        : this.cgroups.create(spec.instanceId, {
            memoryBytes: spec.memoryMb * 1024 * 1024,
            maxProcesses: spec.maxProcesses,
            memoryMb: spec.memoryMb,
            background: spec.background,
          });
    return launchSandbox(
      this.launcher,
      {
        file: program!,
        args,
        cwd: spec.codeDir,
        env: {
          ...env,
          // Without a cgroup the runtime caps its own address space.
          ...(cgroup
            ? {}
            : { NIMBUS_RLIMIT_AS_BYTES: String(spec.memoryMb * 1024 * 1024 + 256 * 1024 * 1024) }),
        },
        ...(uid === undefined ? {} : { uid, gid: uid }),
        handshake: false,
      },
      cgroup,
    );
  }

  async close(): Promise<void> {
    this.runtimes.close();
    await this.launcher.close();
    this.cgroups.release();
  }

  isolation(): IsolationReport {
    const cg = this.cgroups.version === 'none' ? 'none' : (`cgroup-${this.cgroups.version}` as const);
    const asRoot = this.uids !== undefined;
    const warnings = [
      `NO SANDBOX (${this.reason}): functions run as plain processes without namespaces or a seccomp filter; they can read host files their user may read, including other functions' code, share the host's network (its loopback services, the Nimbus API, private networks) and reach the kernel's every system call. Use it only if you trust every function; install bubblewrap for isolation.`,
    ];
    if (!asRoot)
      warnings.push(
        "functions run as the server's own user: they can read its data dir (the database, the admin key) and signal the server",
      );
    if (cg === 'none')
      warnings.push(
        `${this.cgroups.reason}: memory is capped by rlimits only and process count is not limited`,
      );
    const { warnings: cgroupWarnings, ...cpuAndNesting } = cgroupIsolation(this.cgroups);
    warnings.push(...cgroupWarnings);
    return {
      driver: this.name,
      namespaces: false,
      readOnlyCode: asRoot,
      unprivilegedUser: asRoot,
      memoryLimit: cg === 'none' ? 'rlimit' : cg,
      processLimit: cg,
      cpuShares: cg,
      seccomp: [],
      nestedUserNamespaces: 'allowed',
      uidSeparation: this.uids ? { ...this.uids.range } : 'none',
      ...cpuAndNesting,
      network: {
        ownNamespace: false,
        egress: 'host',
        deniedRanges: [],
        allowed: [],
      },
      warnings,
    };
  }
}
