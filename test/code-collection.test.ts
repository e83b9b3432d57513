/**
 * Collecting unused code while deploys of the same bytes come in: a package the collector is
 * deleting is never handed to a new function (it is unpacked afresh), and a deploy that pins an
 * archive while the collector deletes it waits for the deletion and stores it again. Both raced
 * before: the bench saw every cold start of a redeployed function fail with ENOENT.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalCodeStore } from '../src/blobs/local-code-store.js';
import { CodeCache, codeHash } from '../src/engine/code/code-cache.js';
import { HostPackageBuilder } from '../src/packaging/package-builder.js';
import { rawZip } from './helpers/raw-zip.js';

const zip = rawZip([{ name: 'main.py', data: 'def handler(event, context):\n    return 1\n' }]);
const sha = codeHash(zip);
const fn = { codeSha256: sha, runtime: 'python3' as const, handler: 'main.handler', layers: [] };

describe('code collection racing deploys of the same code', () => {
  const root = mkdtempSync(join(tmpdir(), 'nimbus-collect-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  const fresh = async () => {
    const dir = join(root, String(n++));
    const store = new LocalCodeStore(join(dir, 'code'));
    await store.put(sha, zip);
    return { store, cache: new CodeCache(store, new HostPackageBuilder(), join(dir, 'packages')) };
  };

  it('never hands out a package directory the collector is deleting', async () => {
    const { cache } = await fresh();
    const first = await cache.prepare(fn);
    assert.ok(existsSync(first.code.path));
    cache.beginCollection();
    // The collector found nothing referring to the package; a deploy of it comes in at once.
    const collecting = cache.removeUnused(new Set(), []);
    const again = await cache.prepare(fn);
    await collecting;
    assert.ok(existsSync(again.code.path), 'the package the new function got is still there');
    assert.ok(readdirSync(again.code.path).includes('main.py'));
    assert.notEqual(again.code.id, first.code.id, 'a new tree, so no driver reuses the old listing');
  });

  it('lets a deploy pinning an archive that is being deleted store it again afterwards', async () => {
    const { store, cache } = await fresh();
    cache.beginCollection();
    const removal = cache.removeArchive(sha, () => store.remove(sha));
    const release = await cache.pin(sha);
    assert.equal(await store.has(sha), false, 'the pin resolved only once the deletion had ended');
    await store.put(sha, zip); // what the deploy does next
    await removal;
    assert.equal(await store.has(sha), true);
    assert.equal(cache.collectable(sha), false, 'pinned: the next collection keeps it');
    release();
  });
});
