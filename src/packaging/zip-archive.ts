/**
 * Unpacking of uploaded code archives (zip) into a fresh directory on the host, and their content hash.
 * Archives come from users and are hostile until proven otherwise: this module must never write,
 * link or create anything outside the destination directory, never trust the sizes, names or modes
 * in the archive's headers, and never leave a half-unpacked package behind when it refuses one.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, realpath, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl, { type Entry, type ZipFile } from 'yauzl';

import { NimbusError } from '../core/errors.js';
import { LIMITS } from '../core/function.js';

interface UnpackLimits {
  maxZippedBytes: number;
  maxUnpackedBytes: number;
  maxFiles: number;
}

interface UnpackResult {
  /** Regular files and symlinks written (directories not counted). */
  files: number;
  /** Bytes actually written, counted as they streamed, not as the headers claimed. */
  unpackedBytes: number;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** Longer than any path Linux accepts as a symlink target; anything bigger is not a real link. */
const MAX_LINK_TARGET_BYTES = 4096;
const FILE_MODE = 0o644;
const EXEC_FILE_MODE = 0o755;
const DIR_MODE = 0o755;
/** O_EXCL refuses duplicates and pre-existing links; O_NOFOLLOW is belt and braces on top. */
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** fs errors that mean two entries of the archive collide, i.e. the archive is at fault, not the host. */
const CONFLICT_CODES = new Set(['EEXIST', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP']);

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/**
 * Unpacks `zip` into `destDir`, which must not exist yet or be empty. On any failure everything written
 * is removed again (and `destDir` itself, if this call created it) before the promise rejects.
 */
export async function unpackArchive(
  zip: Buffer,
  destDir: string,
  limits: Partial<UnpackLimits> = {},
): Promise<UnpackResult> {
  const caps: UnpackLimits = {
    maxZippedBytes: limits.maxZippedBytes ?? LIMITS.zippedBytes,
    maxUnpackedBytes: limits.maxUnpackedBytes ?? LIMITS.unpackedBytes,
    maxFiles: limits.maxFiles ?? LIMITS.files,
  };
  if (zip.length > caps.maxZippedBytes) {
    throw new NimbusError(
      'PAYLOAD_TOO_LARGE',
      `code archive is ${zip.length} bytes; the limit is ${formatBytes(caps.maxZippedBytes)} zipped`,
    );
  }
  const createdDest = await prepareDestination(destDir);
  try {
    return await extract(zip, await realpath(destDir), caps);
  } catch (err) {
    await removePartial(destDir, createdDest);
    throw err;
  }
}

/** Returns true when it created `destDir`, so a failed unpack knows whether to remove it or only empty it. */
async function prepareDestination(destDir: string): Promise<boolean> {
  const created = await mkdir(destDir, { recursive: true, mode: DIR_MODE });
  if (created !== undefined) return true;
  const info = await stat(destDir);
  if (!info.isDirectory()) throw new Error(`cannot unpack into ${destDir}: it exists and is not a directory`);
  if ((await readdir(destDir)).length > 0) {
    throw new Error(`cannot unpack into ${destDir}: it is not empty; unpack into a new directory`);
  }
  return false;
}

async function removePartial(destDir: string, createdDest: boolean): Promise<void> {
  // rm never follows symlinks, so links the archive planted cannot redirect the clean-up.
  if (createdDest) {
    await rm(destDir, { recursive: true, force: true });
    return;
  }
  const children = await readdir(destDir).catch(() => []);
  await Promise.all(children.map((child) => rm(path.join(destDir, child), { recursive: true, force: true })));
}

interface PendingLink {
  name: string;
  target: string;
}

/** Mutable tallies shared by the entry handlers of one unpack. */
interface Tally {
  files: number;
  bytes: number;
  dirs: Set<string>;
}

async function extract(zip: Buffer, root: string, caps: UnpackLimits): Promise<UnpackResult> {
  let zipfile: ZipFile;
  try {
    // decodeStrings is off so that names reach our own checks raw, with our messages, rather than
    // being half-normalised and refused by yauzl with a generic error.
    zipfile = await yauzl.fromBufferPromise(zip, {
      lazyEntries: true,
      validateEntrySizes: true,
      decodeStrings: false,
    });
  } catch (err) {
    throw notAZip(err);
  }

  const tally: Tally = { files: 0, bytes: 0, dirs: new Set() };
  const seen = new Set<string>();
  // Links are created only after every file is written, so no file write can ever pass through one.
  const links: PendingLink[] = [];
  const entries = zipfile.eachEntry();
  try {
    for (;;) {
      let next: IteratorResult<Entry>;
      try {
        next = await entries.next();
      } catch (err) {
        throw notAZip(err);
      }
      if (next.done) break;
      const entry = next.value;
      const rawName = yauzl.getFileNameLowLevel(
        entry.generalPurposeBitFlag,
        entry.fileNameRaw,
        entry.extraFields,
        true,
      );
      const name = safeEntryName(rawName);
      const mode = entry.externalFileAttributes >>> 16;
      const type = mode & S_IFMT;
      const looksLikeDir = /[/\\]$/.test(rawName);

      if (name === '') {
        if (looksLikeDir) continue;
        throw invalid(`code archive has an entry with an empty name ('${rawName}'); re-create the archive`);
      }
      if (seen.has(name)) {
        throw invalid(
          `code archive has more than one entry named '${name}'; re-create the archive so that every path appears once`,
        );
      }
      seen.add(name);

      if (looksLikeDir || type === S_IFDIR) {
        if (type !== 0 && type !== S_IFDIR) throw badType(name);
        await ensureDir(root, name, tally, caps);
      } else if (type === S_IFLNK) {
        countFile(tally, caps);
        const target = await readLinkTarget(zipfile, entry, name, tally, caps);
        links.push({ name, target });
      } else if (type === 0 || type === S_IFREG) {
        countFile(tally, caps);
        await ensureDir(root, path.posix.dirname(name), tally, caps);
        // Any exec bit makes the file executable; setuid, setgid, sticky and odd permissions are dropped.
        const fileMode = (mode & 0o111) !== 0 ? EXEC_FILE_MODE : FILE_MODE;
        await writeFile(zipfile, entry, root, name, fileMode, tally, caps);
      } else {
        throw badType(name);
      }
    }
  } finally {
    await entries.return?.();
    zipfile.close();
  }

  for (const link of links) {
    await ensureDir(root, path.posix.dirname(link.name), tally, caps);
    await fsStep(link.name, () => symlink(link.target, path.join(root, link.name)));
  }
  // Checked only once all links exist: a link can be made to escape through another (`a -> .`,
  // `b -> a/..`) in ways no lexical check of one target sees.
  for (const link of links) await assertLinkInside(root, link);

  return { files: tally.files, unpackedBytes: tally.bytes };
}

/**
 * The entry's path as a clean relative POSIX path ('' for the root). Refuses anything that could
 * name a place outside the package; backslashes count as separators because Windows tools write them.
 */
function safeEntryName(rawName: string): string {
  if (rawName.includes('\0')) {
    throw invalid(
      `code archive entry '${printable(rawName)}' has a NUL character in its name; rename the file`,
    );
  }
  const name = rawName.replace(/\\/g, '/');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) {
    throw invalid(
      `code archive entry '${rawName}' has an absolute path; store paths relative to the package root (zip from inside the function directory)`,
    );
  }
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw invalid(
      `code archive entry '${rawName}' has a '..' component, which would escape the package; re-create the archive from inside the function directory`,
    );
  }
  return parts.join('/');
}

function countFile(tally: Tally, caps: UnpackLimits): void {
  tally.files += 1;
  if (tally.files > caps.maxFiles) {
    throw invalid(
      `code archive has more than ${caps.maxFiles} files, the limit; remove unused files or dependencies`,
    );
  }
}

function addBytes(tally: Tally, caps: UnpackLimits, n: number): void {
  tally.bytes += n;
  if (tally.bytes > caps.maxUnpackedBytes) throw tooBig(caps);
}

function tooBig(caps: UnpackLimits): NimbusError {
  return invalid(
    `code archive unpacks to more than ${formatBytes(caps.maxUnpackedBytes)}, the limit for unpacked code; remove unused files or dependencies`,
  );
}

/** Creates `rel` and its missing ancestors inside `root`, refusing to pass through anything but a directory. */
async function ensureDir(root: string, rel: string, tally: Tally, caps: UnpackLimits): Promise<void> {
  if (rel === '.' || rel === '') return;
  let current = '';
  for (const part of rel.split('/')) {
    current = current === '' ? part : `${current}/${part}`;
    if (tally.dirs.has(current)) continue;
    const abs = path.join(root, current);
    await fsStep(current, async () => {
      try {
        await mkdir(abs, { mode: DIR_MODE });
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
        // lstat, not stat: an existing symlink here must not be walked through.
        if (!(await lstat(abs)).isDirectory()) throw err;
      }
      await chmod(abs, DIR_MODE);
    });
    tally.dirs.add(current);
    if (tally.dirs.size > caps.maxFiles) {
      throw invalid(
        `code archive has more than ${caps.maxFiles} directories, the limit; remove unused files or dependencies`,
      );
    }
  }
}

async function openEntry(zipfile: ZipFile, entry: Entry, name: string): Promise<Readable> {
  if (entry.isEncrypted()) {
    throw invalid(`code archive entry '${name}' is encrypted; re-create the archive without a password`);
  }
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw invalid(
      `code archive entry '${name}' uses compression method ${entry.compressionMethod}; re-create the archive with deflate or no compression (e.g. \`zip -r\`)`,
    );
  }
  return new Promise<Readable>((resolve, reject) => {
    zipfile.openReadStream(entry, (err, stream) => {
      if (err) {
        reject(corruptEntry(name, err));
        return;
      }
      // yauzl inflates into this stream before anyone reads it, so a size lie can error it right away;
      // the listener keeps that from crashing the process. The consumer still sees the error, since
      // pipeline and async iteration both report a stream that errored before they attached.
      stream.on('error', () => undefined);
      resolve(stream);
    });
  });
}

async function writeFile(
  zipfile: ZipFile,
  entry: Entry,
  root: string,
  name: string,
  fileMode: number,
  tally: Tally,
  caps: UnpackLimits,
): Promise<void> {
  // The header's size is only a hint that lets an honest oversized archive fail before any inflating.
  if (tally.bytes + entry.uncompressedSize > caps.maxUnpackedBytes) throw tooBig(caps);
  const abs = path.join(root, name);
  const handle = await fsStep(name, () => open(abs, CREATE_FLAGS, fileMode));
  let source: Readable;
  try {
    source = await openEntry(zipfile, entry, name);
  } catch (err) {
    await handle.close();
    throw err;
  }
  try {
    // The write stream owns the handle from here and closes it on success and on error alike.
    await pipeline(source, new ByteCounter(tally, caps), handle.createWriteStream());
  } catch (err) {
    throw entryError(name, err);
  }
  // The process umask may have narrowed the mode given to open.
  await fsStep(name, () => chmod(abs, fileMode));
}

async function readLinkTarget(
  zipfile: ZipFile,
  entry: Entry,
  name: string,
  tally: Tally,
  caps: UnpackLimits,
): Promise<string> {
  if (entry.uncompressedSize > MAX_LINK_TARGET_BYTES) throw badLink(name, '(too long)');
  const source = await openEntry(zipfile, entry, name);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_LINK_TARGET_BYTES) throw badLink(name, '(too long)');
      chunks.push(chunk);
    }
  } catch (err) {
    throw entryError(name, err);
  }
  addBytes(tally, caps, size);
  const target = Buffer.concat(chunks).toString('utf8');
  if (target === '' || target.includes('\0') || target.includes('\\')) throw badLink(name, printable(target));
  if (target.startsWith('/') || /^[A-Za-z]:/.test(target)) throw linkOutside(name, target);
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(name), target));
  if (resolved === '..' || resolved.startsWith('../')) throw linkOutside(name, target);
  return target;
}

async function assertLinkInside(root: string, link: PendingLink): Promise<void> {
  let real: string;
  try {
    real = await realpath(path.join(root, link.name));
  } catch (err) {
    if (errorCode(err) === 'ELOOP') {
      throw invalid(
        `code archive entry '${link.name}' is a symlink to '${link.target}' that loops back on itself; remove the link`,
      );
    }
    throw invalid(
      `code archive entry '${link.name}' is a symlink to '${link.target}', which does not exist in the package; remove the link or include its target`,
    );
  }
  if (real !== root && !real.startsWith(root + path.sep)) throw linkOutside(link.name, link.target);
}

/** Counts the bytes that really come out of the inflater and stops the stream the moment the cap is passed. */
class ByteCounter extends Transform {
  constructor(
    private readonly tally: Tally,
    private readonly caps: UnpackLimits,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      addBytes(this.tally, this.caps, chunk.length);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback(null, chunk);
  }
}

/** Runs one file-system step for an entry, blaming the archive for collisions between its own entries. */
async function fsStep<T>(name: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw entryError(name, err);
  }
}

function entryError(name: string, err: unknown): Error {
  if (err instanceof NimbusError) return err;
  const code = errorCode(err);
  if (code !== undefined && err instanceof Error && 'syscall' in err) {
    if (CONFLICT_CODES.has(code)) {
      return invalid(
        `code archive entry '${name}' collides with another entry (${code}: one path used as both file and directory, or a name too long); re-create the archive`,
      );
    }
    // Disk full, permissions and the like are the host's problem, not the archive's.
    return err;
  }
  return corruptEntry(name, err);
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function invalid(message: string): NimbusError {
  return new NimbusError('INVALID_ARCHIVE', message);
}

function notAZip(err: unknown): NimbusError {
  return invalid(
    `code archive is not a valid zip file (${describe(err)}); upload a .zip made with \`zip -r\` or \`nimbus deploy\``,
  );
}

function corruptEntry(name: string, err: unknown): NimbusError {
  return invalid(`code archive entry '${name}' is corrupt (${describe(err)}); re-create the archive`);
}

function badType(name: string): NimbusError {
  return invalid(
    `code archive entry '${name}' is a device, FIFO or socket; a package may contain only files, directories and symlinks`,
  );
}

function badLink(name: string, target: string): NimbusError {
  return invalid(
    `code archive entry '${name}' is a symlink with an invalid target ${target}; replace the link with the file itself`,
  );
}

function linkOutside(name: string, target: string): NimbusError {
  return invalid(
    `code archive entry '${name}' is a symlink to '${target}', which points outside the package; replace the link with the file itself`,
  );
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function printable(text: string): string {
  return JSON.stringify(text);
}

function formatBytes(n: number): string {
  const mb = 1024 * 1024;
  if (n % mb === 0) return `${n / mb} MB`;
  if (n % 1024 === 0) return `${n / 1024} KB`;
  return `${n} bytes`;
}
