/**
 * Code packages on the local file system, content-addressed by SHA-256: `<root>/<sha[0..2]>/<sha>.zip`.
 * A reader must never see a half-written archive, and a hash must never be able to name a path
 * outside the root, so only well-formed hashes are accepted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { CodeStore } from '../core/ports.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

export class LocalCodeStore implements CodeStore {
  constructor(private readonly root: string) {}

  async put(sha256: string, zip: Buffer): Promise<void> {
    const file = this.pathOf(sha256);
    if (await this.has(sha256)) return;
    // Content addressing is only worth anything if the address is true; a wrong hash would poison the key.
    const actual = createHash('sha256').update(zip).digest('hex');
    if (actual !== sha256)
      throw new Error(`code archive hashes to ${actual}, not to the key ${sha256} it was stored under`);
    const dir = path.dirname(file);
    await makePrivateDir(dir);
    // Unique per writer, so concurrent puts of the same archive never write into each other's file;
    // whichever rename lands last replaces identical bytes.
    const temp = path.join(dir, `.${sha256}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, zip, { mode: 0o600, flag: 'wx' });
      await chmod(temp, 0o600);
      await rename(temp, file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async get(sha256: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(sha256))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async list(): Promise<string[]> {
    const hashes: string[] = [];
    let prefixes: string[];
    try {
      prefixes = await readdir(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    for (const prefix of prefixes) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const name of await readdir(path.join(this.root, prefix))) {
        const sha = name.slice(0, -'.zip'.length);
        if (name.endsWith('.zip') && SHA256_HEX.test(sha)) hashes.push(sha);
      }
    }
    return hashes;
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  private pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) {
      throw new Error(
        `invalid code hash '${sha256}': expected 64 lower-case hexadecimal characters (SHA-256)`,
      );
    }
    return path.join(this.root, sha256.slice(0, 2), `${sha256}.zip`);
  }
}

/** Creates `dir` and missing parents as 0700; the umask would otherwise loosen what mkdir's mode asks for. */
async function makePrivateDir(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (created === undefined) return;
  const first = path.resolve(created);
  let current = path.resolve(dir);
  for (;;) {
    await chmod(current, 0o700);
    if (current === first) return;
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}
