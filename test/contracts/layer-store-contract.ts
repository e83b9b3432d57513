/**
 * The LayerStore contract: behaviour every layer store adapter must show (numbering that never
 * reuses a number, listing, deletion). Adapters are registered in test/store-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LayerStore } from '../../src/core/ports.js';
import { layerVersion } from './records.js';
import type { StoreAdapter } from './store-adapter.js';

/** Runs the LayerStore contract against one adapter; each test gets the layers of a fresh, migrated store. */
export function layerStoreContract(adapter: StoreAdapter): void {
  describe(`LayerStore contract: ${adapter.name}`, () => {
    async function withLayers(body: (layers: LayerStore) => Promise<void>): Promise<void> {
      const store = await adapter.create();
      await store.migrate();
      try {
        await body(store.layers());
      } finally {
        await store.close();
      }
    }

    test('versions are numbered 1, 2, 3 per layer, never reused after a delete, and round-trip whole', () =>
      withLayers(async (layers) => {
        const v1 = await layers.publish(layerVersion('deps', { description: 'one' }));
        assert.deepEqual(v1, layerVersion('deps', { description: 'one', version: 1 }));
        assert.deepEqual(await layers.get('deps', 1), v1);
        assert.equal((await layers.publish(layerVersion('deps'))).version, 2);
        assert.equal((await layers.publish(layerVersion('other'))).version, 1);
        assert.equal(await layers.delete('deps', 2), true);
        assert.equal(await layers.delete('deps', 2), false);
        assert.equal(await layers.get('deps', 2), undefined);
        // The newest version was deleted: its number is still never given again.
        assert.equal((await layers.publish(layerVersion('deps'))).version, 3);
        assert.deepEqual(
          (await layers.listVersions('deps')).map((v) => v.version),
          [3, 1],
        );
        assert.deepEqual(await layers.listVersions('nope'), []);
        assert.equal(await layers.get('deps', Number.NaN), undefined);
      }));

    test('listLatest gives each layer once, with its newest version, by name', () =>
      withLayers(async (layers) => {
        await layers.publish(layerVersion('zeta'));
        await layers.publish(layerVersion('alpha', { description: 'old' }));
        await layers.publish(layerVersion('alpha', { description: 'new' }));
        await layers.publish(layerVersion('gone'));
        await layers.delete('gone', 1);
        const latest = await layers.listLatest();
        assert.deepEqual(
          latest.map((v) => [v.layerName, v.version, v.description]),
          [
            ['alpha', 2, 'new'],
            ['zeta', 1, 'the zeta layer'],
          ],
        );
        // Deleting the newest version shows the one before it.
        await layers.delete('alpha', 2);
        assert.deepEqual(
          (await layers.listLatest()).map((v) => [v.layerName, v.version]),
          [
            ['alpha', 1],
            ['zeta', 1],
          ],
        );
      }));

    test('concurrent publishes of one layer get distinct numbers', () =>
      withLayers(async (layers) => {
        const published = await Promise.all(
          Array.from({ length: 8 }, () => layers.publish(layerVersion('busy'))),
        );
        assert.deepEqual(
          published.map((v) => v.version).sort((a, b) => a - b),
          [1, 2, 3, 4, 5, 6, 7, 8],
        );
      }));
  });
}
