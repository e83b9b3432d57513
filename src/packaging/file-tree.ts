/**
 * Unpacked trees on the host: listing them, merging them by hard links (layers into one /opt
 * tree), counting their bytes. Code packages and layers are never changed in place once unpacked,
 * so hard links share their bytes safely.
 */
import {
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';

export interface TreeEntry {
  /** Relative to the tree's root, `/`-separated. */
  path: string;
  kind: 'dir' | 'file' | 'link';
}

/** Every directory, regular file and symbolic link under `root`, parents before their children. */
export function listTree(root: string, prefix = '', out: TreeEntry[] = []): TreeEntry[] {
  for (const entry of readdirSync(join(root, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      out.push({ path, kind: 'dir' });
      listTree(root, path, out);
    } else if (entry.isFile()) out.push({ path, kind: 'file' });
    // Checked at unpack time to stay inside the package; the sandbox resolves them within /code.
    else if (entry.isSymbolicLink()) out.push({ path, kind: 'link' });
  }
  return out;
}

/** Hard-links a file (a copy where links are impossible, e.g. across file systems). */
export function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/** Linking is a few microseconds a file: do it in batches, yielding between them for large trees. */
export const LINK_BATCH = 256;

/**
 * Merges unpacked trees into the empty directory `dest` in order, by hard links, as Lambda extracts
 * layers into /opt: a later tree's file or link replaces an earlier one's entry of the same path
 * (a directory too), and directories of the same path merge.
 */
export async function mergeTrees(sources: string[], dest: string): Promise<void> {
  let done = 0;
  for (const source of sources) {
    for (const { path, kind } of listTree(source)) {
      if (++done % LINK_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
      const to = join(dest, path);
      const existing = kindAt(to);
      if (kind === 'dir') {
        if (existing === 'dir') continue;
        if (existing) rmSync(to, { recursive: true, force: true });
        mkdirSync(to, { mode: 0o755 });
        continue;
      }
      if (existing) rmSync(to, { recursive: true, force: true });
      const from = join(source, path);
      if (kind === 'link') symlinkSync(readlinkSync(from), to);
      else linkOrCopy(from, to);
    }
  }
}

function kindAt(path: string): TreeEntry['kind'] | undefined {
  try {
    const stat = lstatSync(path);
    return stat.isDirectory() ? 'dir' : stat.isSymbolicLink() ? 'link' : 'file';
  } catch {
    return undefined;
  }
}

/** Bytes of the regular files under `root` (links and directories count nothing). */
export function treeBytes(root: string): number {
  let bytes = 0;
  for (const { path, kind } of listTree(root)) {
    if (kind === 'file') bytes += lstatSync(join(root, path)).size;
  }
  return bytes;
}
