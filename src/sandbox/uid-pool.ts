/**
 * The user ids sandboxes run as when Nimbus runs as root: one per running sandbox, taken from the
 * operator's range when the sandbox starts (pre-warmed ones included) and given back when it has
 * exited, so no two live instances (of one function or of two) ever share a user and the kernel
 * keeps their signals, /proc entries and files apart. Freed ids are reused lowest first, so a
 * small set of ids (and their generated /etc/passwd files) serves a long-running server.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface UidRange {
  first: number;
  last: number;
}

export class UidPool {
  private next: number;
  /** Ids given back, reused before new ones (smallest first). */
  private readonly free: number[] = [];
  private readonly inUse = new Set<number>();

  constructor(readonly range: UidRange) {
    this.next = range.first;
  }

  /** A user id no running sandbox has; throws when the whole range is in use. */
  take(): number {
    let uid = this.free.length > 0 ? this.free.shift() : undefined;
    if (uid === undefined) {
      if (this.next > this.range.last)
        throw new Error(
          `all ${this.range.last - this.range.first + 1} sandbox user ids (${this.range.first}-${this.range.last}) are in use; widen --sandbox-uids`,
        );
      uid = this.next++;
    }
    this.inUse.add(uid);
    return uid;
  }

  /** Gives an id back once its sandbox (and everything it started) has exited. */
  release(uid: number): void {
    if (!this.inUse.delete(uid)) return;
    const at = this.free.findIndex((id) => id > uid);
    if (at === -1) this.free.push(uid);
    else this.free.splice(at, 0, uid);
  }
}

/**
 * Starts a sandbox as a user of its own from `pool` (or as the server's user when there is no
 * pool), giving the id back when the sandbox has exited or did not start.
 */
export async function spawnWithOwnUid<T extends { exited: Promise<unknown> }>(
  pool: UidPool | undefined,
  spawnAs: (uid: number | undefined) => Promise<T>,
): Promise<T> {
  if (!pool) return spawnAs(undefined);
  const uid = pool.take();
  try {
    const sandbox = await spawnAs(uid);
    void sandbox.exited.then(() => pool.release(uid));
    return sandbox;
  } catch (err) {
    pool.release(uid);
    throw err;
  }
}

/** Writes `<dir>/passwd` and `<dir>/group` for one user, readable by every user. */
export function writeUserFiles(dir: string, uid: number, gid: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'passwd'), `nimbus:x:${uid}:${gid}:nimbus function:/tmp:/usr/sbin/nologin\n`, {
    mode: 0o644,
  });
  writeFileSync(join(dir, 'group'), `nimbus:x:${gid}:\n`, { mode: 0o644 });
}
