/**
 * The instance wire protocol: the hot-path encoders write the same bytes as the generic one,
 * odd ids still round-trip, and the decoder copes with frames split across and packed into chunks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFrame, encodeInvokeFrame, encodeResultFrame, FrameDecoder } from '../src/runtimes/protocol.js';

const ID = '019ab2c4-5e6f-7a1b-9c2d-3e4f5a6b7c8d';

function decodeAll(chunks: Buffer[]): { header: unknown; payload: string }[] {
  const frames: { header: unknown; payload: string }[] = [];
  const decoder = new FrameDecoder((header, payload) => frames.push({ header, payload: payload.toString() }));
  for (const chunk of chunks) decoder.push(chunk);
  return frames;
}

describe('instance protocol', () => {
  it('writes invoke and result frames byte for byte like the generic encoder', () => {
    const event = Buffer.from('{"x":1}');
    assert.deepEqual(
      encodeInvokeFrame(ID, 1_700_000_000_123, event),
      encodeFrame({ t: 'invoke', id: ID, deadline: 1_700_000_000_123 }, event),
    );
    assert.deepEqual(encodeResultFrame(ID, event), encodeFrame({ t: 'result', id: ID, ok: true }, event));
  });

  it('escapes ids that are not plain, so a header can never be broken out of', () => {
    const id = 'a"b\\c\n';
    const [frame] = decodeAll([
      encodeInvokeFrame(id, 5, Buffer.from('{}')),
      encodeResultFrame(id, Buffer.from('1')),
    ]);
    assert.deepEqual(frame, { header: { t: 'invoke', id, deadline: 5 }, payload: '{}' });
    assert.deepEqual(decodeAll([encodeResultFrame(id, Buffer.from('1'))])[0]?.header, {
      t: 'result',
      id,
      ok: true,
    });
  });

  it('decodes frames split across chunks and several frames in one chunk', () => {
    const a = encodeInvokeFrame(ID, 1, Buffer.from('{"a":1}'));
    const b = encodeResultFrame(ID, Buffer.from('"ok"'));
    const all = Buffer.concat([a, b, a]);
    const split = [all.subarray(0, 3), all.subarray(3, a.length + 5), all.subarray(a.length + 5)];
    const frames = decodeAll(split);
    assert.equal(frames.length, 3);
    assert.deepEqual(
      frames.map((f) => f.payload),
      ['{"a":1}', '"ok"', '{"a":1}'],
    );
  });

  it('decodes a large frame arriving in many pieces, and the frame packed behind it', () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'x');
    const all = Buffer.concat([
      encodeFrame({ t: 'http_chunk', id: ID }, big),
      encodeFrame({ t: 'http_ack', id: ID, n: 3 }),
    ]);
    const pieces: Buffer[] = [];
    for (let at = 0; at < all.length; at += 65_536) pieces.push(all.subarray(at, at + 65_536));
    const frames = decodeAll(pieces);
    assert.equal(frames.length, 2);
    assert.equal(frames[0]?.payload, big.toString());
    assert.deepEqual(frames[1]?.header, { t: 'http_ack', id: ID, n: 3 });
  });

  it('rejects a frame whose length is impossible', () => {
    const bad = Buffer.alloc(8);
    bad.writeUInt32BE(2, 0);
    assert.throws(() => decodeAll([bad]), /invalid frame length/);
  });
});
