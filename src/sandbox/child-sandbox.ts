/**
 * Wraps a spawned child process (and its cgroup, if any) as a SandboxProcess: one exit promise,
 * one idempotent kill that takes every process of the sandbox with it.
 */
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Duplex, Readable } from 'node:stream';
import type { SandboxExit, SandboxProcess, SandboxSpec } from '../core/ports.js';
import type { InstanceCgroup } from './cgroups.js';

/** Paths the runtime sees, written into commands and environment as `${CODE}` and `${RUNTIME}`. */
export function substitutePaths(
  spec: SandboxSpec,
  code: string,
  runtime: string,
): { command: string[]; env: Record<string, string> } {
  const sub = (s: string) => s.replaceAll('${CODE}', code).replaceAll('${RUNTIME}', runtime);
  return {
    command: spec.command.map(sub),
    env: Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, sub(v)])),
  };
}

export function wrapChild(child: ChildProcess, cgroup: InstanceCgroup | undefined): SandboxProcess {
  let killed = false;
  const exited = new Promise<SandboxExit>((resolve) => {
    child.once('exit', (rawCode, rawSignal) => {
      // bubblewrap reports a signal that killed the sandboxed process as exit code 128 + signal.
      const signalled = rawSignal === null && rawCode !== null && rawCode > 128 && rawCode < 128 + 65;
      const signal = signalled ? (signalName(rawCode - 128) ?? rawSignal) : rawSignal;
      const code = signalled ? null : rawCode;
      const outOfMemory = signal === 'SIGKILL' && cgroup !== undefined && cgroup.outOfMemory();
      // Children the function started may outlive the runtime process: take them down too.
      cgroup?.killAll();
      void (cgroup?.remove() ?? Promise.resolve()).finally(() => resolve({ code, signal, outOfMemory }));
    });
    child.once('error', () => resolve({ code: null, signal: null, outOfMemory: false }));
  });
  const kill = async (): Promise<void> => {
    if (!killed) {
      killed = true;
      cgroup?.killAll();
      if (child.pid !== undefined) {
        try {
          // Negative pid: the whole process group (the sandbox runs in a session of its own).
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
    }
    await exited;
  };
  return {
    pid: child.pid ?? -1,
    channel: child.stdio[3] as Duplex,
    stdout: child.stdout as Readable,
    stderr: child.stderr as Readable,
    exited,
    kill,
    setForeground: () => {
      try {
        cgroup?.setBackground(false);
      } catch {
        // the group is gone with its process
      }
    },
  };
}

function signalName(num: number): string | null {
  const entry = Object.entries(constants.signals).find(([, n]) => n === num);
  return entry ? entry[0] : null;
}
