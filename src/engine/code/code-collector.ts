/**
 * Collects code nothing refers to any more: unpacked packages (`<data>/packages/<sha>`), merged
 * layer trees and stored zips that no function, published version or layer version names. Runs
 * at start and after a function is deleted or its code replaced, one run at a time. Must never
 * remove what a deploy or publish is storing right now (CodeCache pins) or what a running
 * instance uses (its slot holds hard links, so removing the package leaves it running).
 */
import type { FunctionLayer } from '../../core/layer.js';
import type { CodeStore, LayerStore, Store } from '../../core/ports.js';
import type { CodeCache } from './code-cache.js';
import type { EngineLogger } from '../executions/execution-recorder.js';

interface CollectedCode {
  /** Unpacked bytes removed from the packages directory. */
  unpackedBytes: number;
  /** Stored archives removed. */
  archives: number;
}

export class CodeCollector {
  private running: Promise<CollectedCode> | undefined;
  private again = false;

  constructor(
    private readonly store: Store,
    private readonly layers: LayerStore,
    private readonly codeStore: CodeStore,
    private readonly codeCache: CodeCache,
    private readonly logger: EngineLogger,
  ) {}

  /** Runs a collection (or, while one runs, one more right after it); never rejects. */
  collect(): Promise<CollectedCode> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.collectNow()
      .catch((err: unknown) => {
        this.logger.error({ err }, 'collecting unused code packages failed');
        return { unpackedBytes: 0, archives: 0 };
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          void this.collect();
        }
      });
    return this.running;
  }

  private async collectNow(): Promise<CollectedCode> {
    this.codeCache.beginCollection();
    const keep = new Set<string>();
    const layerLists: string[][] = [];
    const keepLayers = (layers: FunctionLayer[] | undefined) => {
      if (!layers || layers.length === 0) return;
      for (const layer of layers) keep.add(layer.codeSha256);
      layerLists.push(layers.map((l) => l.codeSha256));
    };
    for (const fn of await this.store.listFunctions()) {
      keep.add(fn.codeSha256);
      keepLayers(fn.layers);
      for (const version of await this.store.listVersions(fn.name)) {
        keep.add(version.codeSha256);
        keepLayers(version.config.layers);
      }
    }
    for (const latest of await this.layers.listLatest()) {
      for (const version of await this.layers.listVersions(latest.layerName)) keep.add(version.codeSha256);
    }
    const unpackedBytes = await this.codeCache.removeUnused(keep, layerLists);
    let archives = 0;
    for (const sha of await this.codeStore.list()) {
      if (keep.has(sha) || !this.codeCache.collectable(sha)) continue;
      await this.codeCache.removeArchive(sha, () => this.codeStore.remove(sha));
      archives++;
    }
    return { unpackedBytes, archives };
  }
}
