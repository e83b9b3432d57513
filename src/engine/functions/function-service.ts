/**
 * Deploys and manages functions: validates configuration, checks and stores code packages
 * (content-addressed, so redeploying the same code is cheap), keeps an in-memory view of the
 * functions for the hot path, and retires instances when a function changes or goes away.
 */
import { NimbusError, functionNotFound, validationFailed } from '../../core/errors.js';
import {
  DEFAULT_ASYNC_CONFIG,
  DEFAULT_NETWORK,
  LIMITS,
  assertAsyncConfig,
  assertNetwork,
  assertEnv,
  assertFunctionName,
  assertHandler,
  type AsyncConfig,
  type FunctionConfig,
  type FunctionRecord,
} from '../../core/function.js';
import type { CodeStore, Store } from '../../core/ports.js';
import { LATEST } from '../../core/version.js';
import type { DiskBudget } from '../code/disk-budget.js';
import { codeHash, type CodeCache } from '../code/code-cache.js';
import type { InstancePool } from '../invocation/instance-pool.js';
import type { LayerService } from './layer-service.js';

/**
 * Configuration as given on create or update: async settings may be given in part, and layers as
 * references (layer version ARNs or `name:version`), which replace the whole list when given.
 */
export type FunctionConfigInput = Partial<Omit<FunctionConfig, 'async' | 'layers'>> & {
  async?: Partial<AsyncConfig> | undefined;
  layers?: string[] | undefined;
};

interface CreateFunctionInput extends FunctionConfigInput {
  name: string;
  runtime: FunctionConfig['runtime'];
  handler: string;
  zip: Buffer;
}

export class FunctionService {
  private readonly cache = new Map<string, FunctionRecord>();

  constructor(
    private readonly store: Store,
    private readonly codeStore: CodeStore,
    private readonly codeCache: CodeCache,
    private readonly pool: InstancePool,
    private readonly layers: LayerService,
    /** Called when code may have become unused (a function deleted, its code replaced). */
    private readonly onCodeReleased: () => void = () => undefined,
    private readonly diskBudget?: DiskBudget,
  ) {}

  async create(input: CreateFunctionInput): Promise<FunctionRecord> {
    assertFunctionName(input.name);
    const config = completeConfig(input, await this.layers.resolve(input.layers ?? []));
    await this.assertDestinations(input.name, config.async);
    if (await this.store.getFunction(input.name)) {
      throw new NimbusError(
        'FUNCTION_EXISTS',
        `a function named '${input.name}' already exists; update it with \`nimbus deploy\` or choose another name`,
      );
    }
    const release = await this.codeCache.pin(codeHash(input.zip));
    try {
      return await this.createWithCode(input, config);
    } catch (err) {
      // A refused package may have been unpacked (and stored) before it was refused.
      release();
      this.onCodeReleased();
      throw err;
    } finally {
      release();
    }
  }

  private async createWithCode(input: CreateFunctionInput, config: FunctionConfig): Promise<FunctionRecord> {
    const code = await this.storeCode(input.zip, config);
    await this.assertUnpackedSize(code.sha, config);
    const now = new Date().toISOString();
    const record: FunctionRecord = {
      name: input.name,
      ...config,
      codeSha256: code.sha,
      codeSize: input.zip.length,
      version: LATEST,
      createdAt: now,
      updatedAt: now,
    };
    await this.store.createFunction(record);
    this.cache.set(record.name, record);
    await this.provision(record);
    return record;
  }

  /** Changes configuration; unspecified fields keep their values. */
  async updateConfig(name: string, patch: FunctionConfigInput): Promise<FunctionRecord> {
    const current = await this.get(name);
    const layers = patch.layers === undefined ? current.layers : await this.layers.resolve(patch.layers);
    const config = completeConfig(
      { ...current, ...patch, async: { ...current.async, ...patch.async }, layers: undefined },
      layers,
    );
    await this.assertDestinations(name, config.async);
    const { async: _async, ...rest } = patch;
    if (Object.keys(rest).length === 0) {
      // Only async settings changed: running instances serve the new settings as they are.
      const record = { ...current, async: config.async, updatedAt: new Date().toISOString() };
      await this.store.updateFunction(record);
      this.cache.set(record.name, record);
      return record;
    }
    if (config.runtime !== current.runtime || config.handler !== current.handler) {
      // The stored package must still contain the (new) handler's module.
      await this.codeCache.prepare({ ...current, ...config });
    }
    if (patch.layers !== undefined) await this.assertUnpackedSize(current.codeSha256, config);
    return this.save({ ...current, ...config, updatedAt: new Date().toISOString() });
  }

  async updateCode(name: string, zip: Buffer): Promise<FunctionRecord> {
    const current = await this.get(name);
    const release = await this.codeCache.pin(codeHash(zip));
    try {
      const code = await this.storeCode(zip, current);
      await this.assertUnpackedSize(code.sha, current);
      return await this.save({
        ...current,
        codeSha256: code.sha,
        codeSize: zip.length,
        updatedAt: new Date().toISOString(),
      });
    } finally {
      release();
      this.onCodeReleased();
    }
  }

  /**
   * The zip a function runs, by the SHA-256 its record names (for code downloads), or the package
   * with SHA-256 `sha256` (a published version's; the caller checks that it is one of the function's).
   */
  async code(name: string, sha256?: string): Promise<{ sha256: string; zip: Buffer }> {
    const fn = await this.get(name);
    const sha = sha256 ?? fn.codeSha256;
    const zip = await this.codeStore.get(sha);
    if (!zip)
      throw new NimbusError('INTERNAL', `the code package of '${name}' is missing from the code store`);
    return { sha256: sha, zip };
  }

  async delete(name: string): Promise<void> {
    const existed = await this.store.deleteFunction(name);
    this.cache.delete(name);
    if (!existed) throw functionNotFound(name);
    await this.pool.retireFunction(name);
    this.onCodeReleased();
  }

  /** The function's record when it is already in memory (the hot path needs no promise). */
  cached(name: string): FunctionRecord | undefined {
    return this.cache.get(name);
  }

  /** The function's current record; served from memory after the first read. */
  async get(name: string): Promise<FunctionRecord> {
    const cached = this.cache.get(name);
    if (cached) return cached;
    const record = await this.store.getFunction(name);
    if (!record) throw functionNotFound(name);
    this.cache.set(name, record);
    return record;
  }

  list(): Promise<FunctionRecord[]> {
    return this.store.listFunctions();
  }

  /** Starts the minimum instances of every function; called once at start-up. */
  async provisionAll(): Promise<void> {
    for (const fn of await this.store.listFunctions()) {
      if (fn.minInstances > 0) await this.provision(fn);
    }
  }

  private async provision(fn: FunctionRecord): Promise<void> {
    this.pool.provision(fn, await this.codeCache.prepare(fn));
  }

  private async save(record: FunctionRecord): Promise<FunctionRecord> {
    await this.store.updateFunction(record);
    this.cache.set(record.name, record);
    // Published versions are frozen: only `$LATEST`'s instances serve the old code or settings.
    await this.pool.retireFunction(record.name, record.version);
    await this.provision(record);
    return record;
  }

  /** A destination function must exist when it is set (it may be the function itself). */
  private async assertDestinations(self: string, config: AsyncConfig): Promise<void> {
    for (const field of ['onSuccess', 'onFailure'] as const) {
      const d = config[field];
      if (d?.type !== 'function' || d.name === self) continue;
      if (!this.cache.has(d.name) && !(await this.store.getFunction(d.name))) {
        throw validationFailed(
          `async.${field} names function '${d.name}', which does not exist; deploy it first or choose another destination`,
          { field: `async.${field}` },
        );
      }
    }
  }

  /** Code and layers together may take 250 MB unpacked, as on Lambda. */
  private async assertUnpackedSize(codeSha256: string, config: FunctionConfig): Promise<void> {
    const code = await this.codeCache.unpackedBytes(codeSha256);
    const total = config.layers.reduce((sum, layer) => sum + layer.unpackedBytes, code);
    if (total > LIMITS.unpackedBytes) {
      const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
      // Lambda answers this with InvalidParameterValueException (400), so VALIDATION_FAILED.
      throw validationFailed(
        `function code combined with layers takes ${total} bytes unpacked (code ${mb(code)}${config.layers.map((l) => `, layer ${l.layerName}:${l.version} ${mb(l.unpackedBytes)}`).join('')}); the maximum is ${LIMITS.unpackedBytes} bytes (${LIMITS.unpackedBytes / 1024 / 1024} MB): use fewer or smaller layers`,
        { field: 'layers' },
      );
    }
  }

  /** Validates (unpacks, builds) the package before anything is stored, then stores it. */
  private async storeCode(zip: Buffer, config: FunctionConfig): Promise<{ sha: string }> {
    if (zip.length > LIMITS.zippedBytes) {
      throw new NimbusError(
        'PAYLOAD_TOO_LARGE',
        `code archive is ${zip.length} bytes; the limit is ${LIMITS.zippedBytes / 1024 / 1024} MB zipped`,
      );
    }
    const sha = codeHash(zip);
    await this.codeCache.prepare({ codeSha256: sha, runtime: config.runtime, handler: config.handler }, zip);
    // The package is unpacked now (it counts as used); the archive is what is still to come.
    if (!(await this.codeStore.has(sha))) this.diskBudget?.assertRoom(zip.length, 'this code package');
    await this.codeStore.put(sha, zip);
    return { sha };
  }
}

function completeConfig(
  input: FunctionConfigInput & Pick<FunctionConfig, 'runtime' | 'handler'>,
  layers: FunctionConfig['layers'],
): FunctionConfig {
  const config: FunctionConfig = {
    runtime: input.runtime,
    handler: input.handler,
    memoryMb: input.memoryMb ?? LIMITS.memoryMb.default,
    timeoutSec: input.timeoutSec ?? LIMITS.timeoutSec.default,
    concurrency: input.concurrency ?? LIMITS.concurrency.default,
    minInstances: input.minInstances ?? LIMITS.minInstances.default,
    maxInstances: input.maxInstances ?? LIMITS.maxInstances.default,
    env: input.env ?? {},
    description: input.description ?? '',
    async: { ...DEFAULT_ASYNC_CONFIG, ...input.async },
    layers,
    network: input.network ?? DEFAULT_NETWORK,
  };
  assertHandler(config.runtime, config.handler);
  assertNetwork(config.network);
  assertRange('memoryMb', config.memoryMb, LIMITS.memoryMb);
  assertRange('timeoutSec', config.timeoutSec, LIMITS.timeoutSec);
  assertRange('concurrency', config.concurrency, LIMITS.concurrency);
  assertRange('minInstances', config.minInstances, LIMITS.minInstances);
  assertRange('maxInstances', config.maxInstances, LIMITS.maxInstances);
  if (config.minInstances > config.maxInstances) {
    throw validationFailed(
      `minInstances (${config.minInstances}) cannot exceed maxInstances (${config.maxInstances})`,
      { field: 'minInstances' },
    );
  }
  assertEnv(config.env);
  assertAsyncConfig(config.async);
  if (config.description.length > LIMITS.descriptionChars) {
    throw validationFailed(
      `description is ${config.description.length} characters; the limit is ${LIMITS.descriptionChars}`,
      {
        field: 'description',
      },
    );
  }
  return config;
}

function assertRange(field: string, value: number, range: { min: number; max: number }): void {
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw validationFailed(
      `${field} must be a whole number from ${range.min} to ${range.max} (got ${value})`,
      { field },
    );
  }
}
