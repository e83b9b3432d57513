/**
 * Wraps a launched process (and its cgroup, if any) as a SandboxProcess: one exit promise,
 * one idempotent kill that takes every process of the sandbox with it.
 */
import { constants } from 'node:os';
import type { SandboxExit, SandboxProcess, SandboxSpec } from '../core/ports.js';
import type { InstanceCgroup } from './cgroups.js';
import { killGroup, type LaunchedProcess, type Launcher, type LaunchRequest } from './launcher.js';

/** Launches a sandbox process into its cgroup and wraps it; on failure the cgroup is removed. */
export async function launchSandbox(
  launcher: Launcher,
  request: Omit<LaunchRequest, 'op' | 'id' | 'cgroupProcs' | 'cgroupThaw'>,
  cgroup: InstanceCgroup | undefined,
): Promise<SandboxProcess> {
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
  spec: SandboxSpec,
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

function wrapChild(child: LaunchedProcess, cgroup: InstanceCgroup | undefined): SandboxProcess {
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
