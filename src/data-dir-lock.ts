/**
 * One server per data dir: an exclusive lock file (`server.lock`, holding the owner's pid) taken
 * before the server touches anything in the data dir, and `server.url`, the address the running
 * server listens on, for the CLI to find it. A second server on the same data dir must fail here,
 * before it cleans up anything the first one is using. No native dependencies: `open(…, 'wx')`
 * is atomic, and a lock whose pid no longer runs is stale and taken over.
 */
import { readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Data dirs locked by servers of this process (tests run several servers in one process). */
const heldHere = new Set<string>();

const LOCK_FILE = 'server.lock';
/** Read by the CLI (cli/connection.ts) when no URL is given. */
const URL_FILE = 'server.url';

/** Thrown when another live server holds the data dir. */
class DataDirLockedError extends Error {
  readonly code = 'DATA_DIR_LOCKED';
  constructor(
    readonly dataDir: string,
    readonly ownerPid: number,
  ) {
    super(
      `another Nimbus server (pid ${ownerPid}) is already using the data dir ${dataDir}; ` +
        'stop it first, or give this server its own data dir with --data-dir or NIMBUS_DATA_DIR',
    );
  }
}

export interface DataDirLock {
  /** Records the URL the server listens on (after listen). */
  recordUrl(url: string): void;
  /** Removes the URL record and the lock, if they are still ours. */
  release(): void;
}

/** Takes the data dir's lock or throws DataDirLockedError; the data dir must exist. */
export function lockDataDir(dataDir: string): DataDirLock {
  const realDir = realpathSync(dataDir);
  if (heldHere.has(realDir)) throw new DataDirLockedError(dataDir, process.pid);
  const lockPath = join(dataDir, LOCK_FILE);
  const urlPath = join(dataDir, URL_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = ownerOf(lockPath);
    if (owner !== undefined && owner !== process.pid && isRunning(owner)) {
      throw new DataDirLockedError(dataDir, owner);
    }
    // A lock left by a server that died (or by an earlier server of this process) is stale.
    if (attempt > 2) throw new DataDirLockedError(dataDir, owner ?? 0);
    rmSync(lockPath, { force: true });
  }
  heldHere.add(realDir);
  rmSync(urlPath, { force: true });
  const ours = () => ownerOf(lockPath) === process.pid;
  return {
    recordUrl(url) {
      writeFileSync(urlPath, `${url}\n`, { mode: 0o644 });
    },
    release() {
      heldHere.delete(realDir);
      if (!ours()) return;
      rmSync(urlPath, { force: true });
      rmSync(lockPath, { force: true });
    },
  };
}

function ownerOf(lockPath: string): number | undefined {
  try {
    const pid = Number(readFileSync(lockPath, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
