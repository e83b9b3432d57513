/**
 * The CodeStore contract: behaviour every code store adapter must show (content addressing by
 * SHA-256, idempotent puts, listing, removal, refusal of malformed keys and of content that does
 * not match its key). Adapters are registered in test/code-store-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import type { CodeStore } from '../../src/core/ports.js';

/** Bytes standing in for an archive (the store does not read them) and their key. */
function archive(text: string): { sha: string; bytes: Buffer } {
  const bytes = Buffer.from(`PK\u0003\u0004${text}`);
  return { sha: createHash('sha256').update(bytes).digest('hex'), bytes };
}

/** Runs the CodeStore contract; `makeCodeStore` gives a fresh, empty store for each test. */
export function codeStoreContract(name: string, makeCodeStore: () => Promise<CodeStore>): void {
  describe(`CodeStore contract: ${name}`, () => {
    test('an empty store has nothing: get is undefined, has is false, list is empty', async () => {
      const store = await makeCodeStore();
      const { sha } = archive('absent');
      assert.equal(await store.get(sha), undefined);
      assert.equal(await store.has(sha), false);
      assert.deepEqual(await store.list(), []);
    });

    test('put stores an archive under its hash: get returns the same bytes, has and list find it', async () => {
      const store = await makeCodeStore();
      const one = archive('one');
      const two = archive('two');
      await store.put(one.sha, one.bytes);
      await store.put(two.sha, two.bytes);
      assert.deepEqual(await store.get(one.sha), one.bytes);
      assert.deepEqual(await store.get(two.sha), two.bytes);
      assert.equal(await store.has(one.sha), true);
      assert.deepEqual((await store.list()).sort(), [one.sha, two.sha].sort());
    });

    test('putting an archive again, also concurrently, keeps one copy with the same bytes', async () => {
      const store = await makeCodeStore();
      const one = archive('again');
      await store.put(one.sha, one.bytes);
      await Promise.all([store.put(one.sha, one.bytes), store.put(one.sha, Buffer.from(one.bytes))]);
      assert.deepEqual(await store.get(one.sha), one.bytes);
      assert.deepEqual(await store.list(), [one.sha]);
    });

    test('remove deletes one archive; removing a missing one is not an error', async () => {
      const store = await makeCodeStore();
      const kept = archive('kept');
      const gone = archive('gone');
      await store.put(kept.sha, kept.bytes);
      await store.put(gone.sha, gone.bytes);
      await store.remove(gone.sha);
      assert.equal(await store.has(gone.sha), false);
      assert.equal(await store.get(gone.sha), undefined);
      assert.deepEqual(await store.list(), [kept.sha]);
      await store.remove(gone.sha);
      await store.remove(archive('never stored').sha);
      assert.deepEqual(await store.get(kept.sha), kept.bytes);
    });

    test('content that does not hash to its key is refused and not stored', async () => {
      const store = await makeCodeStore();
      const real = archive('real');
      const forged = archive('forged');
      await assert.rejects(store.put(real.sha, forged.bytes), /hashes to/);
      assert.equal(await store.has(real.sha), false);
      assert.deepEqual(await store.list(), []);
    });

    test('a key that is not a SHA-256 in lower-case hex is refused by every method', async () => {
      const store = await makeCodeStore();
      for (const bad of ['../../etc/passwd', 'abc', 'A'.repeat(64), `${'a'.repeat(63)}/`, '']) {
        await assert.rejects(store.put(bad, Buffer.from('x')), /invalid code hash/, bad);
        await assert.rejects(store.get(bad), /invalid code hash/, bad);
        await assert.rejects(store.has(bad), /invalid code hash/, bad);
        await assert.rejects(store.remove(bad), /invalid code hash/, bad);
      }
      assert.deepEqual(await store.list(), []);
    });
  });
}
