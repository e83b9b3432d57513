/**
 * Layers: publishes layer versions (the zip checked and unpacked like code, stored content-addressed,
 * numbered per layer without reuse), lists, shows and deletes them, and turns the layer references
 * a function is deployed with into the exact layer versions it keeps. The native API and the
 * Lambda-compatible API both call this; it throws NimbusErrors only.
 *
 * Deleting a layer version removes its record only: functions and published versions that use it
 * keep its SHA-256, and the code store never deletes an archive, so they keep their /opt.
 */
import { NimbusError } from '../../core/errors.js';
import { LIMITS } from '../../core/function.js';
import {
  assertLayerCount,
  assertLayerList,
  assertLayerMetadata,
  assertLayerName,
  layerArn,
  layerVersionArn,
  layerVersionNotFound,
  parseLayerVersionRef,
  type FunctionLayer,
  type LayerVersionRecord,
} from '../../core/layer.js';
import type { ArnScope } from '../../core/arn.js';
import type { CodeStore, LayerStore } from '../../core/ports.js';
import type { DiskBudget } from '../code/disk-budget.js';
import { codeHash, type CodeCache } from '../code/code-cache.js';

interface PublishLayerInput {
  name: string;
  zip: Buffer;
  description?: string | undefined;
  compatibleRuntimes?: string[] | undefined;
  licenseInfo?: string | undefined;
}

export class LayerService {
  constructor(
    private readonly store: LayerStore,
    private readonly codeStore: CodeStore,
    private readonly codeCache: CodeCache,
    /** Region and account of the layer ARNs this server shows and accepts. */
    readonly scope: ArnScope,
    private readonly diskBudget?: DiskBudget,
    /** Called when an archive was refused after it was unpacked (so it is collected). */
    private readonly onCodeReleased: () => void = () => undefined,
  ) {}

  /** Checks and unpacks the archive, stores it, and records it as the layer's next version. */
  async publish(input: PublishLayerInput): Promise<LayerVersionRecord> {
    assertLayerName(input.name);
    const meta = {
      description: input.description ?? '',
      licenseInfo: input.licenseInfo ?? '',
      compatibleRuntimes: [...new Set(input.compatibleRuntimes ?? [])],
    };
    assertLayerMetadata(meta);
    if (input.zip.length > LIMITS.zippedBytes) {
      throw new NimbusError(
        'PAYLOAD_TOO_LARGE',
        `layer archive is ${input.zip.length} bytes; the limit is ${LIMITS.zippedBytes / 1024 / 1024} MB zipped`,
      );
    }
    const sha = codeHash(input.zip);
    const release = await this.codeCache.pin(sha);
    try {
      const unpackedBytes = await this.codeCache.unpackedBytes(sha, input.zip);
      if (!(await this.codeStore.has(sha))) {
        try {
          this.diskBudget?.assertRoom(input.zip.length, 'this layer archive');
        } catch (err) {
          release();
          this.onCodeReleased();
          throw err;
        }
      }
      await this.codeStore.put(sha, input.zip);
      return await this.store.publish({
        layerName: input.name,
        version: 0,
        ...meta,
        codeSha256: sha,
        codeSize: input.zip.length,
        unpackedBytes,
        createdAt: new Date().toISOString(),
      });
    } finally {
      release();
    }
  }

  /** The zip of a layer version (kept in the code store even after the version is deleted). */
  async content(v: LayerVersionRecord): Promise<Buffer> {
    const zip = await this.codeStore.get(v.codeSha256);
    if (!zip) {
      throw new NimbusError(
        'INTERNAL',
        `the archive of layer ${v.layerName}:${v.version} is missing from the code store`,
      );
    }
    return zip;
  }

  /** LAYER_VERSION_NOT_FOUND when the layer has no such version. */
  async get(name: string, version: number): Promise<LayerVersionRecord> {
    assertLayerName(name);
    const record = await this.store.get(name, version);
    if (!record) throw layerVersionNotFound(name, version);
    return record;
  }

  /** A layer's versions, newest first (empty when the layer has none). */
  listVersions(name: string): Promise<LayerVersionRecord[]> {
    assertLayerName(name);
    return this.store.listVersions(name);
  }

  /**
   * Every layer's newest version, by name; with `compatibleRuntime`, each layer's newest version
   * that names that runtime (layers with none are left out), as Lambda's ListLayers does.
   */
  async listLatest(compatibleRuntime?: string): Promise<LayerVersionRecord[]> {
    const latest = await this.store.listLatest();
    if (compatibleRuntime === undefined) return latest;
    const matching: LayerVersionRecord[] = [];
    for (const newest of latest) {
      const candidates = newest.compatibleRuntimes.includes(compatibleRuntime)
        ? [newest]
        : await this.store.listVersions(newest.layerName);
      const match = candidates.find((v) => v.compatibleRuntimes.includes(compatibleRuntime));
      if (match) matching.push(match);
    }
    return matching;
  }

  /** Deletes a version; functions that use it keep working. False when it did not exist (Lambda answers 204 either way). */
  delete(name: string, version: number): Promise<boolean> {
    assertLayerName(name);
    return this.store.delete(name, version);
  }

  /**
   * The layer versions a function names (ARNs or `name:version`), in order, as the function keeps
   * them; at most 5, each layer once, every version must exist.
   */
  async resolve(refs: string[]): Promise<FunctionLayer[]> {
    assertLayerCount(refs.length);
    const parsed = refs.map((ref) => parseLayerVersionRef(this.scope, ref));
    assertLayerList(parsed);
    const layers: FunctionLayer[] = [];
    for (const ref of parsed) {
      const v = await this.get(ref.layerName, ref.version);
      layers.push({
        layerName: v.layerName,
        version: v.version,
        codeSha256: v.codeSha256,
        codeSize: v.codeSize,
        unpackedBytes: v.unpackedBytes,
      });
    }
    return layers;
  }

  arn(name: string): string {
    return layerArn(this.scope, name);
  }

  versionArn(name: string, version: number): string {
    return layerVersionArn(this.scope, name, version);
  }
}
