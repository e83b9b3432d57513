/**
 * Turns a function's code package into a directory a sandbox can mount: unpacked once per
 * SHA-256 (content-addressed, shared by functions with identical code) and, for TypeScript
 * handlers, built once per handler. Layers are unpacked the same way (per SHA-256), and the layers
 * of a function are merged in order, once per list of layers, into the tree its /opt slot gets.
 * Sandboxes get the result as `CodeRef`s (read-only); only this module writes it. How archives are
 * unpacked, built and merged is the PackageBuilder port's (`packaging/`).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, renameSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { NimbusError } from '../../core/errors.js';
import type { FunctionRecord, Runtime } from '../../core/function.js';
import { missingHandlerModule, type ListPackageDirectory } from '../../core/handler.js';
import type { FunctionLayer } from '../../core/layer.js';
import type { CodeRef, CodeStore, FunctionCode, PackageBuilder } from '../../core/ports.js';

export interface PreparedCode extends FunctionCode {
  /** Built entry module relative to the code's root, when the handler needed a build. */
  entry: string | undefined;
}

/** The SHA-256 of a code archive as the code store keys it (64 lower-case hex digits). */
export function codeHash(zip: Buffer): string {
  return createHash('sha256').update(zip).digest('hex');
}

/** What the cache needs of a function: its code, and its layers when it has any. */
type CodeSource = Pick<FunctionRecord, 'codeSha256' | 'runtime' | 'handler'> &
  Partial<Pick<FunctionRecord, 'layers'>>;

function keyOf(fn: CodeSource): string {
  const layers = fn.layers?.map((l) => l.codeSha256).join(',') ?? '';
  return `${fn.codeSha256}:${fn.runtime}:${fn.handler}:${layers}`;
}

export class CodeCache {
  private readonly inProgress = new Map<string, Promise<PreparedCode>>();
  private readonly ready = new Map<string, PreparedCode>();

  constructor(
    private readonly codeStore: CodeStore,
    private readonly builder: PackageBuilder,
    private readonly rootDir: string,
  ) {}

  /**
   * Changes of each unpacked package's tree (a handler build adds to it; collecting removes it):
   * part of its CodeRef's id, so a driver never fills a slot from what it listed before a change.
   */
  private readonly treeChanges = new Map<string, number>();

  private packageRef(sha: string, dir: string): CodeRef {
    return { id: `${sha}.${this.treeChanges.get(sha) ?? 0}`, path: dir };
  }

  private treeChanged(sha: string): void {
    this.treeChanges.set(sha, (this.treeChanges.get(sha) ?? 0) + 1);
  }

  private readonly readyFor = new WeakMap<object, PreparedCode>();

  /** Hashes a deploy or layer publish is storing right now (not yet referenced by a record). */
  private readonly pinned = new Map<string, number>();
  /** Hashes pinned since the running collection read its references (they may be referenced now). */
  private readonly pinnedSinceCollectionStart = new Set<string>();

  /** Stored archives the collector is deleting right now (a deploy of the same bytes waits for it). */
  private readonly removingArchives = new Map<string, Promise<unknown>>();

  /**
   * Keeps a package (unpacked and stored) from being collected while a deploy or publish stores it
   * and writes the record that refers to it; call the returned function when that is done. Resolves
   * once a removal of the same archive that began before the pin has ended, so the deploy stores
   * the archive again rather than finding it about to vanish.
   */
  async pin(sha: string): Promise<() => void> {
    this.pinned.set(sha, (this.pinned.get(sha) ?? 0) + 1);
    this.pinnedSinceCollectionStart.add(sha);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const count = (this.pinned.get(sha) ?? 1) - 1;
      if (count > 0) this.pinned.set(sha, count);
      else this.pinned.delete(sha);
    };
    await this.removingArchives.get(sha)?.catch(() => undefined);
    return release;
  }

  /**
   * Deletes a stored archive the collector found unreferenced and not pinned; `remove` is started
   * at once, in the same turn as that check, so no pin can come in between unseen.
   */
  async removeArchive(sha: string, remove: () => Promise<void>): Promise<void> {
    const removal = remove().finally(() => this.removingArchives.delete(sha));
    this.removingArchives.set(sha, removal);
    await removal;
  }

  /** Called by the code collector before it reads which hashes records refer to. */
  beginCollection(): void {
    // Still pinned now means possibly referenced by the time the collector deletes: keep those too.
    this.pinnedSinceCollectionStart.clear();
    for (const sha of this.pinned.keys()) this.pinnedSinceCollectionStart.add(sha);
  }

  /** Whether a hash may be collected now (the collector has found no record referring to it). */
  collectable(sha: string): boolean {
    return !this.pinned.has(sha) && !this.pinnedSinceCollectionStart.has(sha) && !this.unpacks.has(sha);
  }

  /**
   * Removes unpacked packages and merged layer trees that no record refers to (`keep`: package
   * hashes; `keepOpt`: lists of layer hashes). Running instances are unaffected: their slots hold
   * hard links to the files, not the directories. Returns the bytes freed.
   */
  async removeUnused(keep: Set<string>, keepOpt: string[][]): Promise<number> {
    const optIds = new Set(keepOpt.map((shas) => createHash('sha256').update(shas.join(',')).digest('hex')));
    let entries: string[];
    try {
      entries = readdirSync(this.rootDir);
    } catch {
      return 0;
    }
    let freed = 0;
    for (const name of entries) {
      const dir = join(this.rootDir, name);
      if (/^[0-9a-f]{64}$/.test(name)) {
        if (keep.has(name) || !this.collectable(name)) continue;
        if ([...this.inProgress.keys()].some((key) => key.startsWith(`${name}:`))) continue;
        for (const key of [...this.ready.keys()]) if (key.startsWith(`${name}:`)) this.ready.delete(key);
        this.sizes.delete(name);
        this.treeChanged(name);
      } else if (name.startsWith('opt-')) {
        const id = name.slice('opt-'.length);
        if (optIds.has(id) || this.merges.has(id)) continue;
        for (const [key, prepared] of this.ready) if (prepared.layers?.path === dir) this.ready.delete(key);
      } else if (name.endsWith('.tmp') && !name.includes(`.${process.pid}.`)) {
        // Staging or doomed trees an earlier server process left behind when it stopped.
        freed += this.builder.treeBytes(dir);
        await rm(dir, { recursive: true, force: true });
        continue;
      } else continue;
      // Out of the way in the same turn as the checks above: a deploy that comes while the files
      // are deleted finds no directory and unpacks afresh, instead of taking one about to vanish.
      const doomed = join(this.rootDir, `${name}.${process.pid}.${Date.now()}.collected.tmp`);
      try {
        renameSync(dir, doomed);
      } catch {
        continue; // already gone
      }
      freed += this.builder.treeBytes(doomed);
      await rm(doomed, { recursive: true, force: true });
    }
    return freed;
  }

  /** The prepared code when it is ready (the hot path needs no promise, nor a key string). */
  preparedFor(fn: CodeSource): PreparedCode | undefined {
    let prepared = this.readyFor.get(fn);
    if (!prepared) {
      prepared = this.ready.get(keyOf(fn));
      if (prepared) this.readyFor.set(fn, prepared);
    }
    return prepared;
  }

  /** The prepared code of a function; concurrent callers share one preparation. */
  prepare(fn: CodeSource, zip?: Buffer): Promise<PreparedCode> {
    const key = keyOf(fn);
    const done = this.ready.get(key);
    if (done) return Promise.resolve(done);
    let running = this.inProgress.get(key);
    if (!running) {
      running = this.build(fn.codeSha256, fn.runtime, fn.handler, (fn.layers?.length ?? 0) > 0, zip)
        .then(async (prepared) => ({ ...prepared, layers: await this.mergedLayers(fn.layers ?? []) }))
        .then((prepared) => {
          this.ready.set(key, prepared);
          return prepared;
        })
        .finally(() => this.inProgress.delete(key));
      this.inProgress.set(key, running);
    }
    return running;
  }

  private async build(
    sha: string,
    runtime: Runtime,
    handler: string,
    hasLayers: boolean,
    zip?: Buffer,
  ): Promise<Omit<PreparedCode, 'layers'>> {
    const dir = join(this.rootDir, sha);
    await this.unpack(sha, dir, zip);
    // A layer may provide the handler's module (found on NODE_PATH or sys.path), as on Lambda.
    if (!hasLayers) assertHandlerModule(dir, runtime, handler);
    if (runtime !== 'nodejs') return { code: this.packageRef(sha, dir), entry: undefined };
    const entry = await this.builder.buildHandler(dir, handler);
    // Instances of the package's other handlers may have listed it before this build added to it.
    if (entry) this.treeChanged(sha);
    return { code: this.packageRef(sha, dir), entry };
  }

  private readonly sizes = new Map<string, number>();

  /**
   * Unpacks an archive (a layer's, or a function's code) if it is not yet, and returns the bytes of
   * its files: the size counted against the 250 MB a function's code and layers may take unpacked.
   * Refuses archives that are not valid (the same checks as code packages).
   */
  async unpackedBytes(sha: string, zip?: Buffer): Promise<number> {
    const known = this.sizes.get(sha);
    if (known !== undefined) return known;
    const dir = join(this.rootDir, sha);
    await this.unpack(sha, dir, zip);
    const bytes = this.builder.treeBytes(dir);
    this.sizes.set(sha, bytes);
    return bytes;
  }

  private readonly merges = new Map<string, Promise<CodeRef>>();

  /** The tree of a function's layers merged in order (a later layer's file wins); shared per list. */
  private mergedLayers(layers: FunctionLayer[]): Promise<CodeRef | undefined> {
    if (layers.length === 0) return Promise.resolve(undefined);
    const shas = layers.map((l) => l.codeSha256);
    const id = createHash('sha256').update(shas.join(',')).digest('hex');
    const dir = join(this.rootDir, `opt-${id}`);
    // A merged tree never changes: the same layers give the same files, whenever merged.
    const ref = { id: `opt-${id}`, path: dir };
    if (existsSync(dir)) return Promise.resolve(ref);
    let running = this.merges.get(id);
    if (!running) {
      running = (async () => {
        const sources: string[] = [];
        for (const sha of shas) {
          const source = join(this.rootDir, sha);
          await this.unpack(sha, source);
          sources.push(source);
        }
        const staging = `${dir}.${process.pid}.${Date.now()}.tmp`;
        try {
          await mkdir(staging, { mode: 0o755 });
          await this.builder.mergeTrees(sources, staging);
          await rename(staging, dir);
        } catch (err) {
          await rm(staging, { recursive: true, force: true });
          if (!existsSync(dir)) throw err;
        }
        return ref;
      })().finally(() => this.merges.delete(id));
      this.merges.set(id, running);
    }
    return running;
  }

  private unpacks = new Map<string, Promise<void>>();

  private unpack(sha: string, dir: string, zip?: Buffer): Promise<void> {
    if (existsSync(dir)) return Promise.resolve();
    let running = this.unpacks.get(sha);
    if (!running) {
      running = (async () => {
        const archive = zip ?? (await this.codeStore.get(sha));
        if (!archive) throw new NimbusError('INTERNAL', `code package ${sha} is missing from the code store`);
        await mkdir(this.rootDir, { recursive: true, mode: 0o711 });
        // Unpack beside the final place and rename, so a half-written tree is never mounted.
        const staging = `${dir}.${process.pid}.${Date.now()}.tmp`;
        try {
          await this.builder.unpack(archive, staging);
          await rename(staging, dir);
        } catch (err) {
          await rm(staging, { recursive: true, force: true });
          if (!existsSync(dir)) throw err;
        }
      })().finally(() => this.unpacks.delete(sha));
      this.unpacks.set(sha, running);
    }
    return running;
  }
}

/** Rejects a deploy whose handler names a module the package does not contain (see core/handler.ts). */
function assertHandlerModule(dir: string, runtime: Runtime, handler: string): void {
  const missing = missingHandlerModule(runtime, handler, packageLister(dir));
  if (missing) throw new NimbusError('VALIDATION_FAILED', missing, { field: 'handler' });
}

/** Lists directories of the unpacked package at `root`, never outside it. */
function packageLister(root: string): ListPackageDirectory {
  return (dir) => {
    const path = resolve(root, dir);
    const rel = relative(root, path);
    if (rel === '..' || rel.startsWith(`..${sep}`)) return undefined;
    try {
      return readdirSync(path, { withFileTypes: true }).map((entry) => {
        const isDir =
          entry.isDirectory() ||
          (entry.isSymbolicLink() &&
            (statSync(join(path, entry.name), { throwIfNoEntry: false })?.isDirectory() ?? false));
        return isDir ? `${entry.name}/` : entry.name;
      });
    } catch {
      return undefined;
    }
  };
}
