/**
 * Packing of a function's source directory into a zip for upload. The result must be reproducible
 * (same tree, same bytes, same SHA-256, so an unchanged redeploy is recognised), and packing must
 * never follow a symlink nor take in anything from outside the directory.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { Transform, pipeline, type TransformCallback } from 'node:stream';
import yazl from 'yazl';

interface PackProgress {
  /** Regular files read completely so far. */
  files: number;
  /** Bytes of regular files read so far. */
  bytes: number;
  totalFiles: number;
}

/** Version control, bytecode caches and local Nimbus state are never part of a package. */
const SKIPPED = new Set(['.git', '__pycache__', '.nimbus']);
// Local midnight with DOS timestamps only: DOS fields hold local wall-clock time, so this date encodes
// to the same bytes in every time zone, which the extra UTC timestamp field yazl adds by default would not.
const FIXED_MTIME = new Date(2020, 0, 1);
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

type Item =
  | { kind: 'file'; rel: string; abs: string; size: number; mode: number }
  | { kind: 'dir'; rel: string }
  | { kind: 'link'; rel: string; target: string };

export async function packDirectory(dir: string, onProgress?: (p: PackProgress) => void): Promise<Buffer> {
  const root = await realpath(dir);
  const items: Item[] = [];
  await walk(root, '', items);
  const totalFiles = items.filter((item) => item.kind === 'file').length;

  return new Promise<Buffer>((resolve, reject) => {
    const zipfile = new yazl.ZipFile();
    const chunks: Buffer[] = [];
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    zipfile.on('error', fail);
    zipfile.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    zipfile.outputStream.on('error', fail);
    zipfile.outputStream.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks));
    });

    const progress = { files: 0, bytes: 0, totalFiles };
    for (const item of items) {
      if (item.kind === 'dir') {
        zipfile.addEmptyDirectory(item.rel, {
          mtime: FIXED_MTIME,
          mode: S_IFDIR | 0o755,
          forceDosTimestamp: true,
        });
      } else if (item.kind === 'link') {
        zipfile.addBuffer(Buffer.from(item.target), item.rel, {
          mtime: FIXED_MTIME,
          mode: S_IFLNK | 0o777,
          compress: false,
          forceDosTimestamp: true,
        });
      } else {
        const options = {
          mtime: FIXED_MTIME,
          // Only the exec bits carry meaning; normalising the rest keeps the bytes independent of umask.
          mode: S_IFREG | ((item.mode & 0o111) !== 0 ? 0o755 : 0o644),
          size: item.size,
          forceDosTimestamp: true,
        };
        zipfile.addReadStreamLazy(item.rel, options, (callback) => {
          // O_NOFOLLOW: if the file was swapped for a symlink since the walk, refuse rather than follow it.
          open(item.abs, constants.O_RDONLY | constants.O_NOFOLLOW).then(
            (handle) => {
              const counter = new ProgressCounter(progress, onProgress);
              // yazl does not listen for read errors; without this a failed read would hang the pack.
              pipeline(handle.createReadStream(), counter, (err) => {
                if (err) fail(new Error(`cannot read ${item.abs} while packing: ${err.message}`));
              });
              callback(null, counter);
            },
            (err: Error) => fail(new Error(`cannot read ${item.abs} while packing: ${err.message}`)),
          );
        });
      }
    }
    zipfile.end();
  });
}

/** Depth-first in sorted name order, so the entry order never depends on the file system's listing order. */
async function walk(root: string, relDir: string, items: Item[]): Promise<number> {
  const absDir = relDir === '' ? root : path.join(root, ...relDir.split('/'));
  const names = (await readdir(absDir)).filter((name) => !SKIPPED.has(name)).sort();
  let added = 0;
  for (const name of names) {
    const rel = relDir === '' ? name : `${relDir}/${name}`;
    const abs = path.join(absDir, name);
    const info = await lstat(abs);
    if (info.isSymbolicLink()) {
      items.push({ kind: 'link', rel, target: await checkedLinkTarget(root, rel, abs) });
    } else if (info.isDirectory()) {
      const before = items.length;
      const children = await walk(root, rel, items);
      // Only empty directories need an entry of their own; the others are implied by their files.
      if (children === 0) items.splice(before, 0, { kind: 'dir', rel });
    } else if (info.isFile()) {
      items.push({ kind: 'file', rel, abs, size: info.size, mode: info.mode });
    } else {
      throw new Error(
        `${abs} is not a regular file, directory or symlink; remove it from ${root} before packing`,
      );
    }
    added += 1;
  }
  return added;
}

/** The link's target, if it stays inside the package; the unpacker would refuse anything else anyway. */
async function checkedLinkTarget(root: string, rel: string, abs: string): Promise<string> {
  const target = await readlink(abs);
  const outside = new Error(
    `${abs} is a symlink to '${target}', which is outside ${root}; a package may only link to its own files: copy the target into the directory instead`,
  );
  if (path.isAbsolute(target)) throw outside;
  if (target.includes('\\')) {
    throw new Error(
      `${abs} is a symlink to '${target}', which contains a backslash; use '/' in link targets`,
    );
  }
  const lexical = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  if (lexical === '..' || lexical.startsWith('../')) throw outside;
  let real: string;
  try {
    real = await realpath(abs);
  } catch {
    throw new Error(
      `${abs} is a symlink to '${target}', which does not exist; remove the link or create its target`,
    );
  }
  // Realpath catches chains of individually harmless links that together lead out of the directory.
  if (real !== root && !real.startsWith(root + path.sep)) throw outside;
  return target;
}

/** Passes file data through to yazl, reporting progress when a file has been read to the end. */
class ProgressCounter extends Transform {
  private bytes = 0;

  constructor(
    private readonly progress: PackProgress,
    private readonly onProgress: ((p: PackProgress) => void) | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.progress.files += 1;
    this.progress.bytes += this.bytes;
    this.onProgress?.({ ...this.progress });
    callback();
  }
}
