/**
 * The sandbox launcher: a small child process of the server that starts sandbox processes for it.
 * Starting a process forks its parent, and a fork costs time in proportion to the parent's memory
 * (4–16 ms for the server, blocking its event loop); forked from this small process instead, it
 * costs the server nothing. For each launch it spawns the command, waits for bubblewrap's child
 * pid on fd 4 (when asked), moves that pid into the instance's cgroup, hands the process's stdout,
 * stderr and fd 3 to the server over IPC, and only then lets the sandbox run (fd 5). It reports
 * each process's exit. It imports nothing of the platform but the message types.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import type { LauncherReply, LaunchRequest } from './launcher.js';

const send = (reply: LauncherReply, handle?: unknown) =>
  new Promise<void>((resolve) => process.send!(reply, handle as never, {}, () => resolve()));

process.on('message', (request: LaunchRequest) => {
  if (request.op === 'launch') void launch(request);
});
// The server is gone: sandboxes see their channel close and exit on their own. Node may hold back
// 'disconnect' while a handle it sent awaits the dead server's acknowledgement, so being adopted
// by another parent counts as the server's death too.
process.on('disconnect', () => exitWithServer());
const serverPid = process.ppid;
setInterval(() => {
  if (process.ppid !== serverPid) exitWithServer();
}, 500).unref();

/** Thaw writes of the sandboxes still running, by launch id. */
const thawOnExit = new Map<number, LaunchRequest['cgroupThaw']>();

/** Thaws frozen sandboxes (so they see their channel close, or die with their parent) and exits. */
function exitWithServer(): never {
  for (const writes of thawOnExit.values()) {
    for (const { file, value } of writes) {
      try {
        writeFileSync(file, value);
      } catch {
        // the group is gone
      }
    }
  }
  process.exit(0);
}

async function launch(request: LaunchRequest): Promise<void> {
  const { id } = request;
  let child: ChildProcess;
  let seccompFd: number | undefined;
  try {
    // fd 6: the seccomp program, opened afresh so bubblewrap reads it from its start.
    if (request.seccompFile !== undefined) seccompFd = openSync(request.seccompFile, 'r');
    child = spawn(request.file, request.args, {
      stdio: [
        'ignore',
        'pipe',
        'pipe',
        'pipe',
        ...(request.handshake ? (['pipe', 'pipe'] as const) : []),
        ...(seccompFd === undefined ? [] : [seccompFd]),
      ],
      env: request.env,
      detached: true,
      ...(request.cwd === undefined ? {} : { cwd: request.cwd }),
      ...(request.uid === undefined ? {} : { uid: request.uid, gid: request.gid }),
    });
  } catch (err) {
    await send({ op: 'failed', id, message: (err as Error).message });
    return;
  } finally {
    if (seccompFd !== undefined) closeSync(seccompFd);
  }
  let exited = false;
  if (request.cgroupThaw.length > 0) thawOnExit.set(id, request.cgroupThaw);
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      thawOnExit.delete(id);
      resolve();
      void send({ op: 'exit', id, code, signal });
    });
    child.once('error', (err) => {
      exited = true;
      thawOnExit.delete(id);
      resolve();
      void send({ op: 'failed', id, message: err.message });
    });
  });
  if (child.pid === undefined) return; // 'error' follows
  const stdio = child.stdio as unknown as (Readable & Writable)[];
  // Not one byte of the output meant for the server may be read here (stderr is read below only
  // for bubblewrap's own setup errors, before the sandbox may run).
  stopReading(stdio[1]);
  stopReading(stdio[3]);
  if (!request.handshake) stopReading(stdio[2]);

  try {
    let pid = child.pid;
    let setupErrors = '';
    const collect = (chunk: Buffer) => (setupErrors += chunk.toString('utf8'));
    const stderr = child.stderr as Readable;
    if (request.handshake) {
      // bubblewrap reports setup failures on stderr before the runtime owns it.
      stderr.on('data', collect);
      const info = (child.stdio as unknown as Readable[])[4]!;
      const reported = await Promise.race([readChildPid(info), exit.then(() => undefined)]);
      if (reported === undefined) {
        await send({
          op: 'failed',
          id,
          message: setupErrors.trim() || 'bubblewrap exited before starting the sandbox',
        });
        return;
      }
      pid = reported;
      stderr.off('data', collect);
      stopReading(stderr);
    }
    for (const file of request.cgroupProcs) await writeFile(file, String(pid));
    if (exited) {
      await send({
        op: 'failed',
        id,
        message: setupErrors.trim() || 'the process exited while it was starting',
      });
      return;
    }
    // Handles travel in order; after sending, unread bytes wait in the kernel for the server.
    await send({ op: 'handle', id, name: 'channel' }, stdio[3]);
    await send({ op: 'handle', id, name: 'stdout' }, stdio[1]);
    await send({ op: 'handle', id, name: 'stderr' }, stdio[2]);
    await send({ op: 'launched', id, pid: child.pid });
    // Only now, inside its cgroup and with its output going to the server, may the sandbox run.
    if (request.handshake) stdio[5]!.end('1');
  } catch (err) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await send({ op: 'failed', id, message: (err as Error).message });
  }
}

/**
 * Stops reading a pipe that is about to be handed to the server. Node starts reading a child's
 * pipes as soon as it spawns it, and keeps its copy of a sent handle open (and read, into nothing)
 * until the server acknowledges it: a sandbox that prints meanwhile (the runtime's `ready`) would
 * lose those bytes. Stopped before the event loop runs again, the pipe is never read here.
 */
function stopReading(stream: Readable | undefined): void {
  const handle = (stream as unknown as { _handle?: { reading?: boolean; readStop?: () => number } })?._handle;
  if (handle?.readStop) {
    handle.reading = false;
    handle.readStop();
  }
  stream?.pause();
}

function readChildPid(info: Readable): Promise<number | undefined> {
  return new Promise((resolve) => {
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
    info.once('end', () => resolve(undefined));
  });
}
