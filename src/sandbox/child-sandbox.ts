/**
 * Wraps a launched process (and its cgroup, if any) as a SandboxProcess: one exit promise,
 * one idempotent kill that takes every process of the sandbox with it.
 */
import { constants } from 'node:os';
import type { SandboxExit, SandboxProcess } from '../core/ports.js';
import type { InstanceCgroup } from './cgroups.js';
import { killGroup, type LaunchedProcess, type Launcher, type LaunchRequest } from './launcher.js';

/** What a host driver needs to start one runtime process: host paths and a host command line. */
export interface HostSandboxSpec {
  /** Unique instance id, used for cgroup and directory names. */
  instanceId: string;
  /** Host path of the instance's code slot, mounted read-only at `/code`. */
  codeDir: string;
  /** Host path of the instance's layers slot, mounted read-only at `/opt`. */
  optDir: string;
  /** Host path of the runtime bootstrap directory, mounted read-only at `/nimbus/runtime`. */
  runtimeDir: string;
  /** Host directories (e.g. a runtime's install prefix outside /usr) mounted read-only at the same path. */
  hostPaths: string[];
  /** Program and arguments as seen inside the sandbox; `${CODE}`, `${OPT}` and `${RUNTIME}` stand for the mounts. */
  command: string[];
  env: Record<string, string>;
  memoryMb: number;
  /** Maximum number of processes (and threads) inside the sandbox. */
  maxProcesses: number;
  /** Size cap of the private writable /tmp. */
  tmpSizeMb: number;
  /** Start with the smallest CPU share: a pre-warmed sandbox must not slow down live calls. */
  background: boolean;
}

/** A sandboxed process as a host driver starts it; `HostRuntimes` adds how it gets its code. */
export type HostSandboxProcess = Omit<SandboxProcess, 'loadCode'>;

/** Launches a sandbox process into its cgroup and wraps it; on failure the cgroup is removed. */
export async function launchSandbox(
  launcher: Launcher,
  request: Omit<LaunchRequest, 'op' | 'id' | 'cgroupProcs' | 'cgroupThaw'>,
  cgroup: InstanceCgroup | undefined,
): Promise<HostSandboxProcess> {
  try {
    const cgroupFiles = { cgroupProcs: cgroup?.procsFiles ?? [], cgroupThaw: cgroup?.thawWrites ?? [] };
    return wrapChild(await launcher.launch({ ...request, ...cgroupFiles }), cgroup);
  } catch (err) {
    cgroup?.killAll();
    await cgroup?.remove().catch(() => undefined);
    throw err;
  }
}

/** Paths the runtime sees, written into commands and environment as `${CODE}`, `${OPT}` and `${RUNTIME}`. */
export function substitutePaths(
  spec: HostSandboxSpec,
  code: string,
  runtime: string,
  opt: string,
): { command: string[]; env: Record<string, string> } {
  const sub = (s: string) =>
    s.replaceAll('${CODE}', code).replaceAll('${RUNTIME}', runtime).replaceAll('${OPT}', opt);
  return {
    command: spec.command.map(sub),
    env: Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, sub(v)])),
  };
}

function wrapChild(child: LaunchedProcess, cgroup: InstanceCgroup | undefined): HostSandboxProcess {
  let killed = false;
  const exited = child.exit.then(async ({ code: rawCode, signal: rawSignal }): Promise<SandboxExit> => {
    // bubblewrap reports a signal that killed the sandboxed process as exit code 128 + signal.
    const signalled = rawSignal === null && rawCode !== null && rawCode > 128 && rawCode < 128 + 65;
    const signal = signalled ? (signalName(rawCode - 128) ?? rawSignal) : rawSignal;
    const code = signalled ? null : rawCode;
    const outOfMemory = signal === 'SIGKILL' && cgroup !== undefined && cgroup.outOfMemory();
    // Children the function started may outlive the runtime process: take them down too.
    cgroup?.killAll();
    await cgroup?.remove().catch(() => undefined);
    return { code, signal, outOfMemory };
  });
  const kill = async (): Promise<void> => {
    if (!killed) {
      killed = true;
      cgroup?.killAll();
      // Whoever awaits this kill must hear of the exit even if nothing else keeps the server up.
      child.holdUntilExit();
      // The whole process group: the sandbox runs in a session of its own.
      killGroup(child.pid);
    }
    await exited;
  };
  return {
    pid: child.pid,
    channel: child.channel,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    kill,
    peakMemoryBytes: () => cgroup?.peakMemoryBytes(),
    // Drivers that isolate the network replace this; a plain process shares the host's network.
    connectNetwork: () => Promise.resolve(),
    setForeground: () => {
      try {
        cgroup?.setBackground(false);
      } catch {
        // the group is gone with its process
      }
    },
    limitCpu: (concurrentCalls) => {
      try {
        cgroup?.applyCpuQuota(concurrentCalls);
      } catch {
        // the group is gone with its process
      }
    },
    pause: () => cgroup?.setFrozen(true),
    resume: () => cgroup?.setFrozen(false),
  };
}

function signalName(num: number): string | null {
  const entry = Object.entries(constants.signals).find(([, n]) => n === num);
  return entry ? entry[0] : null;
}
