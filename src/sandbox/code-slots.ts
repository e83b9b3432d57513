/**
 * Code slots: the per-instance directories the host drivers mount read-only at /code and /opt. A
 * pre-warmed sandbox starts with empty slots; loading a function fills them with hard links to its
 * prepared trees (a copy where links are impossible), so no bytes are duplicated and the sandbox,
 * whose mounts are read-only, can change nothing. Only the host writes here.
 *
 * Listing a tree costs more than linking it, so each tree's listing is remembered under its
 * CodeRef id (a changed tree has a new id), for a bounded number of trees, least recently used
 * going first; `close` forgets them all.
 */
import { mkdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CodeRef } from '../core/ports.js';
import { LINK_BATCH, linkOrCopy, listTree, type TreeEntry } from '../packaging/file-tree.js';

/** Trees whose listings are kept: far more than the packages a node serves at once. */
const MAX_LISTINGS = 256;

export class CodeSlots {
  /** Listings by CodeRef id, in order of use (a Map keeps insertion order: oldest first). */
  private readonly listings = new Map<string, TreeEntry[]>();

  constructor(
    /** Host directory under which each instance gets its slots (emptied by the server at start). */
    private readonly root: string,
    private readonly maxListings = MAX_LISTINGS,
  ) {}

  /** Creates an empty slot named `name` and returns its host path. */
  async create(name: string): Promise<string> {
    await mkdir(this.root, { recursive: true, mode: 0o711 });
    const dir = join(this.root, name);
    await mkdir(dir, { mode: 0o755 });
    return dir;
  }

  /** Fills an empty slot with the tree `code` names. */
  async fill(code: CodeRef, slot: string): Promise<void> {
    const entries = this.listing(code);
    for (let i = 0; i < entries.length; i++) {
      if (i > 0 && i % LINK_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
      const { path, kind } = entries[i]!;
      const from = join(code.path, path);
      const to = join(slot, path);
      if (kind === 'dir') mkdirSync(to, { mode: 0o755 });
      else if (kind === 'link') symlinkSync(readlinkSync(from), to);
      else linkOrCopy(from, to);
    }
  }

  async remove(slot: string): Promise<void> {
    await rm(slot, { recursive: true, force: true });
  }

  /** Trees whose listings are remembered now (for tests). */
  get listed(): number {
    return this.listings.size;
  }

  /** Forgets every listing. */
  close(): void {
    this.listings.clear();
  }

  private listing(code: CodeRef): TreeEntry[] {
    let entries = this.listings.get(code.id);
    if (entries) {
      this.listings.delete(code.id); // moves it to the newest end
    } else {
      entries = listTree(code.path);
      if (this.listings.size >= this.maxListings) {
        this.listings.delete(this.listings.keys().next().value!);
      }
    }
    this.listings.set(code.id, entries);
    return entries;
  }
}
