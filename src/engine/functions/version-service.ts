/**
 * Versions and aliases of functions: publishes immutable versions (frozen code and configuration
 * under increasing numbers), manages aliases with weighted routing, and resolves an invocation's
 * qualifier (`$LATEST`, a number, an alias) to the record that serves it. The native API and the
 * Lambda-compatible layer both call this; it throws NimbusErrors only, never HTTP ones.
 *
 * Published versions are served as FunctionRecords whose `version` is their number, so the
 * instance pool keeps them apart from `$LATEST` and from each other (the revision includes it).
 * Records are cached by identity per function (and dropped when a function of the same name is
 * recreated), so the hot path resolves a cached alias or version without a query.
 */
import { NimbusError, aliasNotFound, validationFailed, versionNotFound } from '../../core/errors.js';
import type { FunctionConfig, FunctionRecord } from '../../core/function.js';
import type { Store } from '../../core/ports.js';
import {
  LATEST,
  assertAliasName,
  assertAliasTarget,
  assertVersionDescription,
  isVersionNumber,
  parseQualifier,
  pickVersion,
  type AliasRecord,
  type AliasRouting,
  type VersionRecord,
} from '../../core/version.js';
import type { FunctionService } from './function-service.js';
import type { InstancePool } from '../invocation/instance-pool.js';

interface PublishInput {
  /** Describes the version; the function's description when absent. */
  description?: string | undefined;
  /**
   * Precondition: `$LATEST`'s code SHA-256, as hex (native API) or base64 (Lambda's CodeSha256);
   * CODE_CHANGED when it differs.
   */
  codeSha256?: string | undefined;
}

interface PublishResult {
  version: VersionRecord;
  /** False when `$LATEST` had not changed since the newest version, which is returned instead. */
  created: boolean;
}

interface AliasInput {
  name: string;
  /** A version number or `$LATEST`. */
  functionVersion: string;
  description?: string | undefined;
  routing?: AliasRouting | null | undefined;
}

/** Fields left out keep their values; `routing: null` removes the routing. */
interface AliasPatch {
  functionVersion?: string | undefined;
  description?: string | undefined;
  routing?: AliasRouting | null | undefined;
}

/** The cached versions and aliases of one function (of one incarnation of its name). */
interface FunctionEntry {
  createdAt: string;
  versions: Map<string, FunctionRecord>;
  aliases: Map<string, AliasRecord>;
}

export class VersionService {
  private readonly entries = new Map<string, FunctionEntry>();
  /** Publishes of one function run one at a time, so two cannot both find `$LATEST` changed. */
  private readonly publishing = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly functions: FunctionService,
    private readonly pool: InstancePool,
    /** Picks a number in [0, 1) for weighted routing; replaceable for tests. */
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Freezes `$LATEST`'s code and configuration as the function's next version. Returns the newest
   * version instead (created: false) when nothing changed since it was published.
   */
  publish(name: string, input: PublishInput = {}): Promise<PublishResult> {
    const previous = this.publishing.get(name) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.publishNow(name, input));
    this.publishing.set(name, next);
    void next
      .finally(() => {
        if (this.publishing.get(name) === next) this.publishing.delete(name);
      })
      .catch(() => undefined);
    return next;
  }

  private async publishNow(name: string, input: PublishInput): Promise<PublishResult> {
    if (input.description !== undefined) assertVersionDescription(input.description);
    const fn = await this.functions.get(name);
    if (input.codeSha256 !== undefined && !sameSha256(input.codeSha256, fn.codeSha256)) {
      throw new NimbusError(
        'CODE_CHANGED',
        `$LATEST's code has SHA-256 ${fn.codeSha256}, not ${input.codeSha256}: it changed since you looked; check the code and publish again`,
        { codeSha256: fn.codeSha256 },
      );
    }
    const config = configOf(fn);
    const newest = (await this.store.listVersions(name)).at(-1);
    if (newest && newest.codeSha256 === fn.codeSha256 && canonical(newest.config) === canonical(config)) {
      return { version: newest, created: false };
    }
    const version = await this.store.publishVersion({
      functionName: name,
      version: '',
      codeSha256: fn.codeSha256,
      codeSize: fn.codeSize,
      config,
      description: input.description ?? fn.description,
      createdAt: new Date().toISOString(),
    });
    return { version, created: true };
  }

  /** A function's versions, oldest first. */
  async list(name: string): Promise<VersionRecord[]> {
    await this.functions.get(name);
    return this.store.listVersions(name);
  }

  async get(name: string, version: string): Promise<VersionRecord> {
    await this.functions.get(name);
    const record = isVersionNumber(version) ? await this.store.getVersion(name, version) : undefined;
    if (!record) throw versionNotFound(name, version);
    return record;
  }

  /** Deletes a version; VERSION_IN_USE (naming the alias) while an alias points or routes to it. */
  async delete(name: string, version: string): Promise<void> {
    const fn = await this.functions.get(name);
    if (version === LATEST) {
      throw validationFailed(
        '$LATEST cannot be deleted on its own; delete the function with `nimbus functions delete`',
        { field: 'version' },
      );
    }
    if (!isVersionNumber(version) || !(await this.store.deleteVersion(name, version))) {
      throw versionNotFound(name, version);
    }
    this.entryOf(fn).versions.delete(version);
    await this.pool.retireFunction(name, version);
  }

  async createAlias(name: string, input: AliasInput): Promise<AliasRecord> {
    const fn = await this.functions.get(name);
    assertAliasName(input.name);
    const routing = input.routing ?? null;
    assertAliasTarget(input.functionVersion, routing);
    const description = input.description ?? '';
    assertVersionDescription(description);
    const now = new Date().toISOString();
    const alias: AliasRecord = {
      functionName: name,
      name: input.name,
      functionVersion: input.functionVersion,
      routing,
      description,
      createdAt: now,
      updatedAt: now,
    };
    await this.store.createAlias(alias);
    this.entryOf(fn).aliases.delete(alias.name);
    return alias;
  }

  async getAlias(name: string, alias: string): Promise<AliasRecord> {
    await this.functions.get(name);
    const record = await this.store.getAlias(name, alias);
    if (!record) throw aliasNotFound(name, alias);
    return record;
  }

  async listAliases(name: string): Promise<AliasRecord[]> {
    await this.functions.get(name);
    return this.store.listAliases(name);
  }

  async updateAlias(name: string, alias: string, patch: AliasPatch): Promise<AliasRecord> {
    const fn = await this.functions.get(name);
    const current = await this.store.getAlias(name, alias);
    if (!current) throw aliasNotFound(name, alias);
    const next: AliasRecord = {
      ...current,
      functionVersion: patch.functionVersion ?? current.functionVersion,
      routing: patch.routing === undefined ? current.routing : patch.routing,
      description: patch.description ?? current.description,
      updatedAt: new Date().toISOString(),
    };
    assertAliasTarget(next.functionVersion, next.routing);
    assertVersionDescription(next.description);
    if (!(await this.store.updateAlias(next))) throw aliasNotFound(name, alias);
    this.entryOf(fn).aliases.delete(alias);
    return next;
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    const fn = await this.functions.get(name);
    const existed = await this.store.deleteAlias(name, alias);
    this.entryOf(fn).aliases.delete(alias);
    if (!existed) throw aliasNotFound(name, alias);
  }

  /**
   * The record that serves one call of `name` with `qualifier`: `$LATEST` itself, a published
   * version, or the version an alias picks (its routing version with the routing weight's
   * probability). Throws FUNCTION_NOT_FOUND, VERSION_NOT_FOUND, ALIAS_NOT_FOUND, or
   * VALIDATION_FAILED for a malformed qualifier.
   */
  async resolve(name: string, qualifier: string): Promise<FunctionRecord> {
    const latest = this.functions.cached(name) ?? (await this.functions.get(name));
    const q = parseQualifier(qualifier);
    if (q.kind === 'latest') return latest;
    const entry = this.entryOf(latest);
    let version: string;
    if (q.kind === 'alias') {
      let alias = entry.aliases.get(q.alias);
      if (!alias) {
        alias = await this.store.getAlias(name, q.alias);
        if (!alias) throw aliasNotFound(name, q.alias);
        entry.aliases.set(q.alias, alias);
      }
      version = pickVersion(alias, this.random());
      if (version === LATEST) return latest;
    } else {
      version = q.version;
    }
    const cached = entry.versions.get(version);
    if (cached) return cached;
    const record = await this.store.getVersion(name, version);
    if (!record) throw versionNotFound(name, version);
    // Keep the first record made: the pool and the code cache key their state by its identity.
    const served = entry.versions.get(version) ?? servedRecord(record);
    entry.versions.set(version, served);
    return served;
  }

  private entryOf(fn: FunctionRecord): FunctionEntry {
    let entry = this.entries.get(fn.name);
    if (!entry || entry.createdAt !== fn.createdAt) {
      entry = { createdAt: fn.createdAt, versions: new Map(), aliases: new Map() };
      this.entries.set(fn.name, entry);
    }
    return entry;
  }

  /** Forgets a deleted function's versions and aliases (the store removed them with it). */
  forget(name: string): void {
    this.entries.delete(name);
  }
}

/** What a version freezes of a function: everything but its name, code and timestamps. */
function configOf(fn: FunctionRecord): FunctionConfig {
  return {
    runtime: fn.runtime,
    handler: fn.handler,
    memoryMb: fn.memoryMb,
    timeoutSec: fn.timeoutSec,
    concurrency: fn.concurrency,
    minInstances: fn.minInstances,
    maxInstances: fn.maxInstances,
    env: { ...fn.env },
    description: fn.description,
    async: { ...fn.async },
    layers: fn.layers.map((layer) => ({ ...layer })),
    network: fn.network,
  };
}

/** A published version as the pool and invoker see a function (and the Lambda API shows it). */
export function servedRecord(v: VersionRecord): FunctionRecord {
  return {
    name: v.functionName,
    ...v.config,
    codeSha256: v.codeSha256,
    codeSize: v.codeSize,
    version: v.version,
    createdAt: v.createdAt,
    updatedAt: v.createdAt,
  };
}

/** Whether `given` (hex, any case, or base64) is the hex SHA-256 `hex`. */
function sameSha256(given: string, hex: string): boolean {
  return given.toLowerCase() === hex || given === Buffer.from(hex, 'hex').toString('base64');
}

/** JSON with sorted keys, so equal configurations compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
