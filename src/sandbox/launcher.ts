/**
 * The server's side of the sandbox launcher (launcher-process.ts): starts that small process once,
 * asks it to launch sandbox processes, and turns what it sends back (the process's stdout, stderr
 * and fd 3 as sockets, its pid, its exit) into a LaunchedProcess. If the launcher dies, every
 * process it launched is killed (its exit could no longer be observed) and the next launch starts
 * a new launcher.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

export interface LaunchRequest {
  op: 'launch';
  id: number;
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** bubblewrap's --info-fd 4 / --block-fd 5: learn the sandbox's pid, then let it run. */
  handshake: boolean;
  /** cgroup.procs files the process joins before it runs. */
  cgroupProcs: string[];
  /** A file opened read-only and passed as fd 6 (bubblewrap's `--seccomp 6`); needs `handshake`. */
  seccompFile?: string;
  /**
   * Writes that thaw the process's frozen cgroup (file, value), made if the server dies: a frozen
   * sandbox could not notice its channel closing, nor die of the SIGKILL bubblewrap sends it.
   */
  cgroupThaw: { file: string; value: string }[];
}

export type LauncherReply =
  | { op: 'handle'; id: number; name: 'channel' | 'stdout' | 'stderr' }
  | { op: 'launched'; id: number; pid: number }
  | { op: 'failed'; id: number; message: string }
  | { op: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };

export interface LaunchedProcess {
  /** The process's group id (it runs in a session of its own). */
  pid: number;
  channel: Socket;
  stdout: Socket;
  stderr: Socket;
  exit: Promise<{ code: number | null; signal: string | null }>;
  /**
   * Keeps the server alive until `exit` is reported (the report arrives over the launcher's
   * channel, which otherwise does not hold the event loop): for whoever awaits a kill.
   */
  holdUntilExit(): void;
}

type Exit = Awaited<LaunchedProcess['exit']>;

interface Launch {
  resolve: (launched: LaunchedProcess) => void;
  reject: (err: Error) => void;
  handles: Partial<Record<'channel' | 'stdout' | 'stderr', Socket>>;
  launched: LaunchedProcess | undefined;
  /** An exit reported before the launch completed. */
  earlyExit: Exit | undefined;
  /** Resolves `exited`; built before launching so an early exit is never missed. */
  settleExit: (exit: Exit) => void;
  exited: Promise<Exit>;
  holdUntilExit: () => void;
}

export class Launcher {
  private child: ChildProcess | undefined;
  private nextId = 0;
  private readonly launches = new Map<number, Launch>();
  private closed = false;
  /** Launches not yet answered and exits awaited: while there are any, the launcher's channel keeps the server alive. */
  private pending = 0;

  launch(request: Omit<LaunchRequest, 'op' | 'id'>): Promise<LaunchedProcess> {
    if (this.closed) return Promise.reject(new Error('the sandbox launcher is closed'));
    const child = this.start();
    const id = ++this.nextId;
    this.hold();
    const done = () => this.release();
    let holdingForExit = false;
    const holdUntilExit = () => {
      if (holdingForExit || !this.launches.has(id)) return;
      holdingForExit = true;
      this.hold();
    };
    return new Promise<LaunchedProcess>((resolve, reject) => {
      let settle: (exit: Exit) => void = () => undefined;
      const exited = new Promise<Exit>((r) => (settle = r));
      this.launches.set(id, {
        resolve: (launched) => {
          done();
          resolve(launched);
        },
        reject: (err) => {
          done();
          reject(err);
        },
        handles: {},
        launched: undefined,
        earlyExit: undefined,
        holdUntilExit,
        settleExit: (exit) => {
          this.launches.delete(id);
          if (holdingForExit) this.release();
          holdingForExit = false;
          settle(exit);
        },
        exited,
      });
      const message: LaunchRequest = { op: 'launch', id, ...request };
      child.send(message);
    });
  }

  /** The launcher's channel keeps the server alive while anything waits on it (a launch, an exit). */
  private hold(): void {
    if (this.pending++ === 0) this.child?.channel?.ref();
  }

  private release(): void {
    if (--this.pending === 0) this.child?.channel?.unref();
  }

  /** Stops the launcher; the processes it launched are not affected. */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      // It exits when its channel closes; if it does not, it is killed rather than waited for.
      setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, 2000).unref();
    });
    child.ref(); // wait for it even though nothing else may keep the server alive
    if (child.connected) child.disconnect();
    else child.kill('SIGKILL');
    await gone;
  }

  private start(): ChildProcess {
    if (this.child) return this.child;
    const child = fork(new URL('./launcher-process.js', import.meta.url), [], {
      // Nothing of the server's environment (the admin key, database settings) may reach the
      // launcher, and through it a sandbox: it needs none, and passes each process its own.
      env: {},
      // It reports everything over IPC; holding the server's stdout or stderr open could keep
      // whoever reads them (a supervisor, a test runner) waiting after the server is gone.
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      execArgv: [],
      serialization: 'json',
    });
    // Neither the launcher nor its channel keeps the server alive, unless a launch is pending.
    child.unref();
    child.channel?.unref();
    child.on('message', (reply: LauncherReply, handle?: Socket) => this.onReply(reply, handle));
    child.once('exit', () => this.onLauncherExit(child));
    this.child = child;
    return child;
  }

  private onReply(reply: LauncherReply, handle: Socket | undefined): void {
    const launch = this.launches.get(reply.id);
    if (!launch) {
      handle?.destroy();
      return;
    }
    switch (reply.op) {
      case 'handle':
        if (handle) launch.handles[reply.name] = handle;
        return;
      case 'launched': {
        const { channel, stdout, stderr } = launch.handles;
        if (!channel || !stdout || !stderr) {
          this.fail(reply.id, launch, new Error('the sandbox launcher sent an incomplete process'));
          killGroup(reply.pid);
          return;
        }
        launch.launched = {
          pid: reply.pid,
          channel,
          stdout,
          stderr,
          exit: launch.exited,
          holdUntilExit: launch.holdUntilExit,
        };
        launch.resolve(launch.launched);
        if (launch.earlyExit) launch.settleExit(launch.earlyExit);
        return;
      }
      case 'failed':
        if (!launch.launched) this.fail(reply.id, launch, new Error(reply.message));
        return;
      case 'exit':
        if (launch.launched) launch.settleExit({ code: reply.code, signal: reply.signal });
        else launch.earlyExit = { code: reply.code, signal: reply.signal };
        return;
    }
  }

  private fail(id: number, launch: Launch, err: Error): void {
    this.launches.delete(id);
    for (const handle of Object.values(launch.handles)) handle.destroy();
    launch.reject(err);
  }

  private onLauncherExit(child: ChildProcess): void {
    if (this.child === child) this.child = undefined;
    for (const [id, launch] of this.launches) {
      if (launch.launched) {
        // Its exit can no longer be observed: stop it, so nothing runs unaccounted for.
        killGroup(launch.launched.pid);
        launch.settleExit({ code: null, signal: 'SIGKILL' });
      } else this.fail(id, launch, new Error('the sandbox launcher exited'));
    }
  }
}

/** Kills a process group (the launched process and everything it started). */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
