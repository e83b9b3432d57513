/**
 * The data dir's disk budget: what packages (unpacked code), code archives and the database
 * (records and logs) take, and the check that refuses a deploy or layer publish that would take
 * the data dir past its budget (507, naming the setting). Measuring walks the directories, so it
 * runs per deploy and per `doctor`, never per call.
 */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NimbusError } from '../../core/errors.js';

/** Bytes the data dir takes, by part. */
export interface DataDirUsage {
  packagesBytes: number;
  codeBytes: number;
  /** The database file with its journal: execution records and their logs. */
  databaseBytes: number;
  totalBytes: number;
  /** The budget (`diskBudgetMb`) in bytes. */
  budgetBytes: number;
}

interface DataDirLayout {
  packagesDir: string;
  codeDir: string;
  /** Database files (the database and its -wal/-shm companions). */
  databaseFiles: string[];
}

export class DiskBudget {
  constructor(
    private readonly layout: DataDirLayout,
    private readonly budgetBytes: number,
  ) {}

  usage(): DataDirUsage {
    const packagesBytes = bytesUnder(this.layout.packagesDir);
    const codeBytes = bytesUnder(this.layout.codeDir);
    const databaseBytes = this.layout.databaseFiles.reduce((sum, file) => sum + fileBytes(file), 0);
    return {
      packagesBytes,
      codeBytes,
      databaseBytes,
      totalBytes: packagesBytes + codeBytes + databaseBytes,
      budgetBytes: this.budgetBytes,
    };
  }

  /**
   * Refuses (507 INSUFFICIENT_STORAGE) when storing `incomingBytes` more would take the data dir
   * past its budget. What was already unpacked for the check counts as used.
   */
  assertRoom(incomingBytes: number, what: string): void {
    const usage = this.usage();
    if (usage.totalBytes + incomingBytes <= this.budgetBytes) return;
    const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
    throw new NimbusError(
      'INSUFFICIENT_STORAGE',
      `${what} would take the data dir to ${mb(usage.totalBytes + incomingBytes)}, past its disk budget of ${mb(this.budgetBytes)} (setting diskBudgetMb, NIMBUS_DISK_BUDGET_MB); delete unused functions, versions or layers, or raise the budget`,
      { usedBytes: usage.totalBytes, budgetBytes: this.budgetBytes },
    );
  }
}

function fileBytes(file: string): number {
  return lstatSync(file, { throwIfNoEntry: false })?.size ?? 0;
}

/** Bytes of the regular files under `dir` (links not followed). */
function bytesUnder(dir: string): number {
  if (!existsSync(dir)) return 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) bytes += fileBytes(join(entry.parentPath, entry.name));
  }
  return bytes;
}

/** The budget of a data dir as the server lays it out (`packages/`, `code/`, `nimbus.db`). */
export function dataDirBudget(dataDir: string, budgetMb: number): DiskBudget {
  return new DiskBudget(
    {
      packagesDir: join(dataDir, 'packages'),
      codeDir: join(dataDir, 'code'),
      databaseFiles: ['', '-wal', '-shm'].map((suffix) => join(dataDir, `nimbus.db${suffix}`)),
    },
    budgetMb * 1024 * 1024,
  );
}
