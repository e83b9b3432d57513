/**
 * Code slots: the per-instance directory a sandbox mounts read-only at /code. A pre-warmed sandbox
 * starts with an empty slot; specialising it fills the slot with hard links to the function's
 * unpacked code (a copy where links are impossible), so no bytes are duplicated and the sandbox,
 * whose mount is read-only, can change nothing. Only the host writes here. The same goes for the
 * slot mounted at /opt, filled with the function's layers merged in order (`mergeTrees`).
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
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

interface Entry {
  path: string;
  kind: 'dir' | 'file' | 'link';
}

/**
 * Entries of each unpacked tree, listed once: a package changes after unpacking only when a
 * handler of it is built, which calls `forgetListing`.
 */
const listings = new Map<string, Entry[]>();

/** Lists the tree at `source` again on its next use (a build added files to it). */
export function forgetListing(source: string): void {
  listings.delete(source);
}

function listTree(root: string, prefix = '', out: Entry[] = []): Entry[] {
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

/** Linking is a few microseconds a file: do it in batches, yielding between them for large packages. */
const BATCH = 256;

export async function createSlot(root: string, instanceId: string): Promise<string> {
  await mkdir(root, { recursive: true, mode: 0o711 });
  const dir = join(root, instanceId);
  await mkdir(dir, { mode: 0o755 });
  return dir;
}

/** Fills an empty slot with the tree at `source`. */
export async function fillSlot(source: string, slot: string): Promise<void> {
  let entries = listings.get(source);
  if (!entries) {
    entries = listTree(source);
    listings.set(source, entries);
  }
  for (let i = 0; i < entries.length; i++) {
    if (i > 0 && i % BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
    const { path, kind } = entries[i]!;
    const from = join(source, path);
    const to = join(slot, path);
    if (kind === 'dir') mkdirSync(to, { mode: 0o755 });
    else if (kind === 'link') symlinkSync(readlinkSync(from), to);
    else {
      try {
        linkSync(from, to);
      } catch {
        copyFileSync(from, to);
      }
    }
  }
}

/**
 * Merges unpacked trees into the empty directory `dest` in order, by hard links, as Lambda extracts
 * layers into /opt: a later tree's file or link replaces an earlier one's entry of the same path
 * (a directory too), and directories of the same path merge.
 */
export async function mergeTrees(sources: string[], dest: string): Promise<void> {
  let done = 0;
  for (const source of sources) {
    for (const { path, kind } of listTree(source)) {
      if (++done % BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
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
      else {
        try {
          linkSync(from, to);
        } catch {
          copyFileSync(from, to);
        }
      }
    }
  }
}

function kindAt(path: string): Entry['kind'] | undefined {
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

export async function removeSlot(slot: string): Promise<void> {
  await rm(slot, { recursive: true, force: true });
}
