/**
 * HPACK both ways: header blocks from hpack.js's own compressor (Huffman strings, dynamic table entries
 * reused across blocks, a table size update) decode to the fields sent, in order of blocks; our literal
 * encoding decodes back; a malformed block throws. Frame splitting into HEADERS + CONTINUATION.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import hpack from 'hpack.js';
import { createHeaderDecoder, encodeHeaderBlock, Flag, FrameType, headerFrames } from './h2-frames';

interface Compressor {
  write(fields: { name: string; value: string; huffman?: boolean; neverIndex?: boolean }[]): void;
  read(): Buffer | null;
  updateTableSize(size: number): void;
}
const createCompressor = (hpack as unknown as { compressor: { create(o: { table: { maxSize: number } }): Compressor } }).compressor.create;

function compress(c: Compressor, fields: [string, string][], huffman: boolean): Buffer {
  c.write(fields.map(([name, value]) => ({ name, value, huffman })));
  const parts: Buffer[] = [];
  for (let b = c.read(); b !== null; b = c.read()) parts.push(b);
  return Buffer.concat(parts);
}

test('blocks of a compressor with a dynamic table and Huffman strings decode to what was sent', () => {
  const c = createCompressor({ table: { maxSize: 4096 } });
  const d = createHeaderDecoder(4096);
  const base: [string, string][] = [
    [':method', 'POST'],
    [':path', '/envoy.service.auth.v3.Authorization/Check'],
    ['content-type', 'application/grpc'],
    ['grpc-timeout', '200m'],
  ];
  for (let i = 0; i < 50; i++) {
    const fields: [string, string][] = [...base, ['x-request-id', `req-${i}`], ['x-ünicode-free', 'v'.repeat(i)]];
    const block = compress(c, fields, i % 2 === 0);
    assert.deepEqual([...d.decode(block)], fields, `block ${i}`);
  }
  const first = compress(c, [...base, ['x-same', 'again']], true);
  const second = compress(c, [...base, ['x-same', 'again']], true);
  assert.ok(second.length <= 5 && second.length < first.length, `the repeat is all dynamic-table indexes (${second.length} bytes)`);
  assert.deepEqual([...d.decode(first)], [...d.decode(second)]);
  c.updateTableSize(0);
  assert.deepEqual([...d.decode(compress(c, base, true))], base, 'after a table size update');
});

test('our response encoding decodes back; a malformed block throws', () => {
  const fields: [string, string][] = [
    [':status', '200'],
    ['content-type', 'application/grpc+proto'],
    ['grpc-status', '13'],
    ['grpc-message', `policy%20p ${'x'.repeat(300)}`],
  ];
  assert.deepEqual([...createHeaderDecoder(4096).decode(encodeHeaderBlock(fields))], fields);
  // An indexed field pointing past the tables.
  assert.throws(() => createHeaderDecoder(4096).decode(Buffer.from([0xff, 0x7f])));
});

test('a header block larger than the frame size goes out as HEADERS + CONTINUATION', () => {
  const block = Buffer.alloc(40_000, 1);
  const frames = headerFrames(5, block, true, 16_384);
  assert.deepEqual(frames.map((f) => [f[3], f[4], f.readUIntBE(0, 3), f.readUInt32BE(5)]), [
    [FrameType.HEADERS, Flag.END_STREAM, 16_384, 5],
    [FrameType.CONTINUATION, 0, 16_384, 5],
    [FrameType.CONTINUATION, Flag.END_HEADERS, 40_000 - 2 * 16_384, 5],
  ]);
  assert.deepEqual(Buffer.concat(frames.map((f) => f.subarray(9))), block);
  assert.equal(headerFrames(1, Buffer.alloc(0), false, 16_384)[0]![4], Flag.END_HEADERS, 'an empty block is one HEADERS frame');
});
