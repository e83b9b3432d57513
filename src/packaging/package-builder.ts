/**
 * The PackageBuilder port on the host's file system: zip unpacking with the package checks
 * (zip-archive.ts), TypeScript handler builds (node-build.ts) and layer merging (file-tree.ts).
 */
import type { PackageBuilder } from '../core/ports.js';
import { mergeTrees, treeBytes } from './file-tree.js';
import { buildNodeHandler } from './node-build.js';
import { unpackArchive } from './zip-archive.js';

export class HostPackageBuilder implements PackageBuilder {
  async unpack(zip: Buffer, dir: string): Promise<void> {
    await unpackArchive(zip, dir);
  }

  async buildHandler(dir: string, handler: string): Promise<string | undefined> {
    return (await buildNodeHandler(dir, handler))?.entry;
  }

  mergeTrees(sources: string[], dest: string): Promise<void> {
    return mergeTrees(sources, dest);
  }

  treeBytes(dir: string): number {
    return treeBytes(dir);
  }
}
