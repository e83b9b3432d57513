/**
 * Hostile callers guessing the admin key: every wrong key is refused whatever its length, and the
 * comparison itself answers by content only (its time must not depend on the key's length).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { secretsEqual } from '../../src/api/auth.js';
import { startTestServer, type TestServer } from '../helpers/harness.js';

describe('hostile: admin key guesses', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ prewarmPerRuntime: 0 });
  });
  after(() => nimbus.close());

  it('refuses wrong keys of every length, on /v1 and the invoke front door', async () => {
    const key = nimbus.key;
    const guesses = new Set<string>();
    for (let length = 1; length <= key.length + 8; length++) {
      guesses.add('x'.repeat(length));
      guesses.add(key.slice(0, length) + (length > key.length ? 'y'.repeat(length - key.length) : ''));
    }
    guesses.delete(key);
    for (const guess of guesses) {
      const list = await nimbus.request('GET', '/v1/functions', { auth: guess });
      assert.equal(list.status, 401, `key of length ${guess.length}`);
      const invoke = await nimbus.request('POST', '/v1/functions/none/invoke', { auth: guess, json: {} });
      assert.equal(invoke.status, 401, `invoke with a key of length ${guess.length}`);
    }
    assert.equal((await nimbus.request('GET', '/v1/functions')).status, 200, 'the right key still works');
  });

  it('compares secrets by content, for any pair of lengths', () => {
    assert.equal(secretsEqual('abc', 'abc'), true);
    assert.equal(secretsEqual(Buffer.from('abc'), 'abc'), true);
    for (const [a, b] of [
      ['abc', 'abd'],
      ['abc', 'abcd'],
      ['', 'abc'],
      ['abc', ''],
      ['a'.repeat(1000), 'a'.repeat(999)],
    ] as const) {
      assert.equal(secretsEqual(a, b), false, `${a.length} vs ${b.length}`);
    }
  });
});
