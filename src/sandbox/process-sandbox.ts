/**
 * The fallback sandbox driver for hosts without bubblewrap: a plain child process in a session of
 * its own, as an unprivileged user when Nimbus runs as root, with the memory cap applied by the
 * runtime (RLIMIT_AS for Python, heap size for Node) and cgroups when they are writable. It is
 * weaker than bubblewrap: the function can see the host's file system with that user's rights,
 * which `nimbus doctor` and the start-up warning say plainly.
 */
import type { IsolationReport, SandboxDriver, SandboxProcess, SandboxSpec } from '../core/ports.js';
import type { CgroupSupport } from './cgroups.js';
import { launchSandbox, substitutePaths } from './child-sandbox.js';
import { Launcher } from './launcher.js';

export class ProcessSandbox implements SandboxDriver {
  readonly name = 'process';
  private readonly runAs: { uid: number; gid: number } | undefined;
  private readonly launcher = new Launcher();

  constructor(
    private readonly cgroups: CgroupSupport,
    sandboxUid: number,
    private readonly reason: string,
  ) {
    this.runAs = process.getuid?.() === 0 ? { uid: sandboxUid, gid: sandboxUid } : undefined;
  }

  async spawn(spec: SandboxSpec): Promise<SandboxProcess> {
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
        ...(this.runAs ?? {}),
        handshake: false,
      },
      cgroup,
    );
  }

  async close(): Promise<void> {
    await this.launcher.close();
  }

  isolation(): IsolationReport {
    const cg = this.cgroups.version === 'none' ? 'none' : (`cgroup-${this.cgroups.version}` as const);
    const warnings = [
      `${this.reason}: functions run as plain processes without namespaces; they can read host files their user may read, including other functions' code, and share the host's network (its loopback services, the Nimbus API, private networks). Install bubblewrap for full isolation.`,
    ];
    if (cg === 'none')
      warnings.push(
        `${this.cgroups.reason}: memory is capped by rlimits only and process count is not limited`,
      );
    return {
      driver: this.name,
      namespaces: false,
      readOnlyCode: this.runAs !== undefined,
      unprivilegedUser: this.runAs !== undefined || process.getuid?.() !== 0,
      memoryLimit: cg === 'none' ? 'rlimit' : cg,
      processLimit: cg,
      cpuShares: cg,
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
