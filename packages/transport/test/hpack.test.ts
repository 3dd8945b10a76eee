import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { encodeHeaderBlock, encodeHeaderRecord, HpackDecoder, HpackError } from '../src/index.js';
import { EOS, HUFFMAN_CODES, huffmanDecode } from '../src/hpack/huffman.js';
import { captureClientBlocks, nodeServerReads } from './h2-wire.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** A list in the RFC's "name: value" lines, as the flat name, value, … the decoder returns. */
function list(...lines: string[]): string[] {
  return lines.flatMap((line) => {
    const colon = line.indexOf(':', 1);
    return [line.slice(0, colon), line.slice(colon + 2)];
  });
}

function assertHpackError(run: () => unknown, message: RegExp): void {
  assert.throws(run, (err: unknown) => err instanceof HpackError && message.test(err.message));
}

/** Huffman-codes a latin1 string with the Appendix B table, padding with the most significant bits of EOS. */
function huffmanEncode(text: string): Buffer {
  const bytes: number[] = [];
  let acc = 0n;
  let bits = 0n;
  for (let i = 0; i < text.length; i++) {
    const symbol = text.charCodeAt(i);
    acc = (acc << BigInt(HUFFMAN_CODES[2 * symbol + 1]!)) | BigInt(HUFFMAN_CODES[2 * symbol]!);
    bits += BigInt(HUFFMAN_CODES[2 * symbol + 1]!);
    while (bits >= 8n) {
      bits -= 8n;
      bytes.push(Number((acc >> bits) & 0xffn));
    }
  }
  if (bits > 0n) bytes.push(Number(((acc << (8n - bits)) | ((1n << (8n - bits)) - 1n)) & 0xffn));
  return Buffer.from(bytes);
}

// --- the Huffman table (RFC 7541 Appendix B) -------------------------------------

test('the Huffman table is a complete prefix code: the Kraft sum over all 257 codes, EOS included, is exactly 1', () => {
  assert.equal(HUFFMAN_CODES.length, 2 * 257);
  let sum = 0n;
  for (let symbol = 0; symbol <= EOS; symbol++) sum += 1n << BigInt(30 - HUFFMAN_CODES[2 * symbol + 1]!);
  assert.equal(sum, 1n << 30n);
});

test('no Huffman code is a prefix of another, and the codes are canonical (ordered by length, then symbol), as Appendix B lists them', () => {
  const codes = Array.from({ length: EOS + 1 }, (_, symbol) => ({ symbol, code: HUFFMAN_CODES[2 * symbol]!, bits: HUFFMAN_CODES[2 * symbol + 1]! }));
  // Codes left-aligned on 30 bits, in order: each must start past the whole range of the previous one.
  const aligned = codes.map((c) => ({ ...c, start: c.code * 2 ** (30 - c.bits), span: 2 ** (30 - c.bits) })).sort((a, b) => a.start - b.start);
  for (let i = 1; i < aligned.length; i++) assert.equal(aligned[i]!.start, aligned[i - 1]!.start + aligned[i - 1]!.span, `symbol ${aligned[i]!.symbol}`);
  const canonical = [...codes].sort((a, b) => a.bits - b.bits || a.symbol - b.symbol);
  assert.deepEqual(canonical.map((c) => c.symbol), aligned.map((c) => c.symbol));
  assert.deepEqual(codes[EOS], { symbol: EOS, code: 0x3fffffff, bits: 30 });
});

test('Huffman decoding gives back every byte value, at every bit alignment', () => {
  const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
  for (let shift = 0; shift < 8; shift++) {
    const text = 'a'.repeat(shift) + all + 'z'.repeat(shift);
    const coded = huffmanEncode(text);
    assert.equal(huffmanDecode(coded, 0, coded.length), text);
  }
  assert.equal(huffmanDecode(Buffer.alloc(0), 0, 0), '');
});

test('Huffman padding longer than 7 bits, padding that is not all ones, and EOS in a string are errors (RFC 7541 §5.2)', () => {
  // ':path' (static 4) as a literal without indexing, value Huffman-coded.
  assert.deepEqual(new HpackDecoder().decode(hex('04 81 1f')).fields, [':path', 'a']); // 00011 + 111
  assertHpackError(() => new HpackDecoder().decode(hex('04 82 1f ff')), /padding/); // 00011 + 11 ones
  assertHpackError(() => new HpackDecoder().decode(hex('04 81 ff')), /padding/); // 8 ones, no symbol
  assertHpackError(() => new HpackDecoder().decode(hex('04 81 18')), /padding/); // 00011 + 000
  assertHpackError(() => new HpackDecoder().decode(hex('04 81 1e')), /padding/); // 00011 + 110
  assertHpackError(() => new HpackDecoder().decode(hex('04 84 ff ff ff ff')), /EOS/); // 30 ones = EOS
  assertHpackError(() => new HpackDecoder().decode(hex('04 85 1f ff ff ff ff')), /EOS/); // 'a', then EOS
  assert.deepEqual(new HpackDecoder().decode(hex('04 80')).fields, [':path', '']);
});

// --- RFC 7541 Appendix C ---------------------------------------------------------

test('C.2.1 literal header field with indexing', () => {
  const decoder = new HpackDecoder();
  const block = decoder.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
  assert.deepEqual(block.fields, list('custom-key: custom-header'));
  assert.equal(block.stateless, false);
  assert.deepEqual(decoder.tableEntries(), list('custom-key: custom-header'));
  assert.equal(decoder.tableBytes, 55);
});

test('C.2.2 literal header field without indexing', () => {
  const decoder = new HpackDecoder();
  const block = decoder.decode(hex('040c 2f73 616d 706c 652f 7061 7468'));
  assert.deepEqual(block.fields, list(':path: /sample/path'));
  assert.equal(block.stateless, true);
  assert.deepEqual(decoder.tableEntries(), []);
  assert.equal(decoder.tableBytes, 0);
});

test('C.2.3 literal header field never indexed', () => {
  const decoder = new HpackDecoder();
  const block = decoder.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'));
  assert.deepEqual(block.fields, list('password: secret'));
  assert.equal(block.stateless, true);
  assert.deepEqual(decoder.tableEntries(), []);
});

test('C.2.4 indexed header field', () => {
  const decoder = new HpackDecoder();
  const block = decoder.decode(hex('82'));
  assert.deepEqual(block.fields, list(':method: GET'));
  assert.equal(block.stateless, true);
  assert.deepEqual(decoder.tableEntries(), []);
});

interface Step {
  readonly wire: string;
  readonly fields: string[];
  /** the dynamic table after decoding, newest first */
  readonly table: string[];
  readonly tableBytes: number;
}

function runSteps(decoder: HpackDecoder, steps: readonly Step[]): void {
  for (const [i, step] of steps.entries()) {
    const block = decoder.decode(hex(step.wire));
    assert.deepEqual(block.fields, step.fields, `block ${i + 1}`);
    assert.equal(block.stateless, false, `block ${i + 1}`);
    assert.deepEqual(decoder.tableEntries(), step.table, `table after block ${i + 1}`);
    assert.equal(decoder.tableBytes, step.tableBytes, `table size after block ${i + 1}`);
  }
}

const REQUESTS = [
  list(':method: GET', ':scheme: http', ':path: /', ':authority: www.example.com'),
  list(':method: GET', ':scheme: http', ':path: /', ':authority: www.example.com', 'cache-control: no-cache'),
  list(':method: GET', ':scheme: https', ':path: /index.html', ':authority: www.example.com', 'custom-key: custom-value'),
];
const REQUEST_TABLES = [
  { table: list(':authority: www.example.com'), tableBytes: 57 },
  { table: list('cache-control: no-cache', ':authority: www.example.com'), tableBytes: 110 },
  { table: list('custom-key: custom-value', 'cache-control: no-cache', ':authority: www.example.com'), tableBytes: 164 },
];

test('C.3 requests without Huffman coding, on one connection', () => {
  const wires = [
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ];
  runSteps(new HpackDecoder(), wires.map((wire, i) => ({ wire, fields: REQUESTS[i]!, ...REQUEST_TABLES[i]! })));
});

test('C.4 requests with Huffman coding, on one connection', () => {
  const wires = [
    '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
    '8286 84be 5886 a8eb 1064 9cbf',
    '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
  ];
  runSteps(new HpackDecoder(), wires.map((wire, i) => ({ wire, fields: REQUESTS[i]!, ...REQUEST_TABLES[i]! })));
});

const COOKIE = 'set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSES = [
  list(':status: 302', 'cache-control: private', 'date: Mon, 21 Oct 2013 20:13:21 GMT', 'location: https://www.example.com'),
  list(':status: 307', 'cache-control: private', 'date: Mon, 21 Oct 2013 20:13:21 GMT', 'location: https://www.example.com'),
  list(':status: 200', 'cache-control: private', 'date: Mon, 21 Oct 2013 20:13:22 GMT', 'location: https://www.example.com', 'content-encoding: gzip', COOKIE),
];
// SETTINGS_HEADER_TABLE_SIZE 256: each response evicts.
const RESPONSE_TABLES = [
  { table: list('location: https://www.example.com', 'date: Mon, 21 Oct 2013 20:13:21 GMT', 'cache-control: private', ':status: 302'), tableBytes: 222 },
  { table: list(':status: 307', 'location: https://www.example.com', 'date: Mon, 21 Oct 2013 20:13:21 GMT', 'cache-control: private'), tableBytes: 222 },
  { table: list(COOKIE, 'content-encoding: gzip', 'date: Mon, 21 Oct 2013 20:13:22 GMT'), tableBytes: 215 },
];

test('C.5 responses without Huffman coding, table size 256, with eviction', () => {
  const wires = [
    `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
     2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
    '4803 3330 37c1 c0bf',
    `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
     54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
     5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
  ];
  runSteps(new HpackDecoder(256), wires.map((wire, i) => ({ wire, fields: RESPONSES[i]!, ...RESPONSE_TABLES[i]! })));
});

test('C.6 responses with Huffman coding, table size 256, with eviction', () => {
  const wires = [
    `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
     2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
    '4883 640e ffc1 c0bf',
    `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
     77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
     9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
  ];
  runSteps(new HpackDecoder(256), wires.map((wire, i) => ({ wire, fields: RESPONSES[i]!, ...RESPONSE_TABLES[i]! })));
});

// --- decoder errors and limits ---------------------------------------------------

test('an integer over 2^31 - 1, or with more than 5 continuation bytes, or cut short, is an error', () => {
  assertHpackError(() => new HpackDecoder().decode(hex('ff ff ff ff ff 0f')), /overflow/);
  assertHpackError(() => new HpackDecoder().decode(hex('ff 80 80 80 80 80 00')), /overflow/);
  assertHpackError(() => new HpackDecoder().decode(hex('ff 80')), /truncated/);
  // 2^31 - 1 itself is read, and is then an index beyond the table.
  assertHpackError(() => new HpackDecoder().decode(hex('ff 80 ff ff ff 07')), /beyond/);
});

test('index 0 and an index past the dynamic table are errors, in every representation', () => {
  assertHpackError(() => new HpackDecoder().decode(hex('80')), /index 0/);
  assertHpackError(() => new HpackDecoder().decode(hex('be')), /index 62/);
  assertHpackError(() => new HpackDecoder().decode(hex('7e 01 78')), /index 62/); // literal with indexing, name 62
  assertHpackError(() => new HpackDecoder().decode(hex('0f 2f 01 78')), /index 62/); // without indexing, name 62
  assertHpackError(() => new HpackDecoder().decode(hex('1f 2f 01 78')), /index 62/); // never indexed, name 62
  const decoder = new HpackDecoder();
  decoder.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
  assert.deepEqual(decoder.decode(hex('be')).fields, list('custom-key: custom-header'));
  assertHpackError(() => decoder.decode(hex('bf')), /index 63/);
});

test('a string literal longer than the rest of the block is an error', () => {
  assertHpackError(() => new HpackDecoder().decode(hex('04 05 2f 61')), /past/);
  assertHpackError(() => new HpackDecoder().decode(hex('04')), /truncated/);
});

test('a dynamic table size update above maxTableSize is an error; up to it, it evicts (RFC 7541 §4.2, §6.3)', () => {
  const decoder = new HpackDecoder(256);
  decoder.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
  assertHpackError(() => new HpackDecoder(256).decode(hex('3f e2 01')), /257 exceeds/); // 31 + 98 + 128
  assert.equal(decoder.decode(hex('3f e1 01 82')).stateless, false); // 256: the entry stays
  assert.equal(decoder.tableBytes, 55);
  assert.equal(decoder.decode(hex('3f 17')).fields.length, 0); // 54: the 55-byte entry goes
  assert.deepEqual(decoder.tableEntries(), []);
  // RFC 7541 C.1.2's 1337 on a 5-bit prefix is read whole.
  assert.equal(new HpackDecoder(1337).decode(hex('3f 9a 0a')).stateless, false);
  assertHpackError(() => new HpackDecoder(1336).decode(hex('3f 9a 0a')), /1337 exceeds/);
});

test('a dynamic table size update after a header field is an error, even right after another update', () => {
  assertHpackError(() => new HpackDecoder().decode(hex('82 20')), /after a header field/);
  assertHpackError(() => new HpackDecoder().decode(hex('20 3f e1 1f 82 3f e1 1f')), /after a header field/);
  assert.deepEqual(new HpackDecoder().decode(hex('20 3f e1 1f 82')).fields, list(':method: GET'));
});

test('after maxTableSize is lowered below the table size, the next block must start with an update to at most the lowest limit', () => {
  const decoder = new HpackDecoder();
  decoder.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')); // C.3.1: 57 bytes
  decoder.maxTableSize = 100;
  decoder.maxTableSize = 200;
  assert.equal(decoder.maxTableSize, 200);
  assertHpackError(() => decoder.decode(hex('82')), /update required/);
  assertHpackError(() => decoder.decode(hex('3f a9 01 82')), /200 exceeds/); // the lowest limit was 100
  // to 0 (RFC 7541 §4.2: the minimum first), then up to the limit now in force
  assert.deepEqual(decoder.decode(hex('20 3f a9 01 82')).fields, list(':method: GET'));
  assert.deepEqual(decoder.tableEntries(), []);
  assert.equal(decoder.decode(hex('82')).stateless, true);
  decoder.maxTableSize = 8192; // raising needs no update
  assert.equal(decoder.decode(hex('82')).stateless, true);
  assert.equal(decoder.decode(hex('3f e1 3f 82')).stateless, false); // 8192
});

test('an uppercase header name is an error (RFC 9113 §8.2.1), literal or Huffman-coded, whatever the representation', () => {
  assertHpackError(() => new HpackDecoder().decode(hex('00 03 466f6f 01 78')), /uppercase/); // "Foo" without indexing
  assertHpackError(() => new HpackDecoder().decode(hex('40 03 666f4f 01 78')), /uppercase/); // "foO" with indexing
  assertHpackError(() => new HpackDecoder().decode(hex('10 01 5a 01 78')), /uppercase/); // "Z" never indexed
  const upper = huffmanEncode('X-Id');
  assertHpackError(() => new HpackDecoder().decode(Buffer.concat([hex('00'), Buffer.from([0x80 | upper.length]), upper, hex('01 78')])), /uppercase/);
  // Values may have any case.
  assert.deepEqual(new HpackDecoder().decode(hex('00 03 666f6f 01 58')).fields, ['foo', 'X']);
});

test('decoded fields beyond maxFieldBytes (name + value + 32 each) are an error', () => {
  const c31 = hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'); // 42 + 43 + 38 + 57 = 180 bytes
  assert.equal(new HpackDecoder().decode(c31, 180).fields.length, 8);
  assertHpackError(() => new HpackDecoder().decode(c31, 179), /exceed 179 bytes/);
  // One indexed byte can stand for a large entry: the limit counts what it expands to.
  const decoder = new HpackDecoder();
  const big = 'v'.repeat(1000);
  decoder.decode(encodeWithIndexing('x-big', big));
  assertHpackError(() => decoder.decode(hex('be be be'), 3000), /exceed 3000 bytes/);
});

/** One field as a literal with incremental indexing and a new name. */
function encodeWithIndexing(name: string, value: string): Buffer {
  const stateless = encodeHeaderBlock([name, value]);
  return Buffer.concat([hex('40'), stateless.subarray(1)]);
}

test('stateless is true only for blocks that neither use nor change the dynamic table', () => {
  const decoder = new HpackDecoder();
  assert.equal(decoder.decode(hex('82 86 84')).stateless, true); // static indexed
  assert.equal(decoder.decode(hex('04 02 2f 61')).stateless, true); // without indexing, static name
  assert.equal(decoder.decode(hex('10 01 78 01 79')).stateless, true); // never indexed, new name
  assert.equal(decoder.decode(hex('')).stateless, true);
  assert.equal(decoder.decode(hex('44 02 2f 61')).stateless, false); // adds to the table
  assert.equal(decoder.decode(hex('be')).stateless, false); // refers to it
  assert.equal(decoder.decode(hex('0f 2f 01 78')).stateless, false); // a name from it
  assert.equal(decoder.decode(hex('3f e1 1f')).stateless, false); // resizes it
});

// --- encoder ---------------------------------------------------------------------

test('encodeHeaderBlock: static (name, value) as indexed, static names by index, others as literal names, no Huffman', () => {
  const block = encodeHeaderBlock([':method', 'POST', ':path', '/a', 'content-type', 'application/grpc', 'x-id', '', 'accept-encoding', 'gzip, deflate']);
  assert.deepEqual(block, Buffer.concat([hex('83 04 02 2f61 0f 10 10'), Buffer.from('application/grpc'), hex('00 04'), Buffer.from('x-id'), hex('00 90')]));
  // Names past index 14 need the 4-bit prefix's continuation byte.
  assert.deepEqual(encodeHeaderBlock(['www-authenticate', 'x']), hex('0f 2e 01 78'));
  assert.deepEqual(encodeHeaderBlock([]), Buffer.alloc(0));
  assert.throws(() => encodeHeaderBlock(['x']), TypeError);
});

const AWKWARD = [
  ':method', 'POST', ':scheme', 'http', ':path', '/pkg.Service/Method', ':authority', 'orders:50051',
  'content-type', 'application/grpc', 'te', 'trailers', 'x-empty', '', 'x-latin1', 'caf\u00e9 \u00ff\u0080',
  'x-127', 'a'.repeat(127), 'x-128', 'b'.repeat(128), 'x-long', 'c'.repeat(20_000), 'x-dup', '1', 'x-dup', '2',
  'cookie', 'a=1', 'cookie', 'b=2', 'accept-encoding', 'gzip, deflate', 'user-agent', 'grpc-node-js/1.12.0',
];

test('encodeHeaderBlock output decodes to the same fields, statelessly', () => {
  const decoder = new HpackDecoder(0);
  const block = decoder.decode(encodeHeaderBlock(AWKWARD));
  assert.deepEqual(block.fields, AWKWARD);
  assert.equal(block.stateless, true);
  assert.equal(decoder.tableBytes, 0);
});

test('encodeHeaderBlock output sent in a real HEADERS frame reads the same in a node:http2 server', async () => {
  // node joins repeated cookies into one field when it builds rawHeaders (RFC 9113 §8.2.3).
  const withoutCookies = AWKWARD.filter((_, i, all) => all[i - (i % 2)] !== 'cookie');
  assert.deepEqual(await nodeServerReads(encodeHeaderBlock(withoutCookies)), withoutCookies);
});

test('encodeHeaderRecord: pseudo-headers first, arrays as repeated fields, numbers as text, undefined left out', () => {
  const record = { 'content-type': 'application/grpc', ':method': 'POST', 'x-n': 3, 'x-many': ['a', 'b'], 'x-none': undefined, ':path': '/p' };
  assert.deepEqual(encodeHeaderRecord(record), encodeHeaderBlock([':method', 'POST', ':path', '/p', 'content-type', 'application/grpc', 'x-n', '3', 'x-many', 'a', 'x-many', 'b']));
});

// --- node:http2 client blocks ----------------------------------------------------

test('blocks a node:http2 client sends, several requests on one connection, decode to the fields it was given', async () => {
  const grpc = (path: string, extra: http2.OutgoingHttpHeaders): http2.OutgoingHttpHeaders => ({
    ':method': 'POST', ':scheme': 'http', ':path': path, 'content-type': 'application/grpc', te: 'trailers',
    'grpc-accept-encoding': 'identity,deflate,gzip', 'accept-encoding': 'identity', 'user-agent': 'grpc-node-js/1.12.0', ...extra,
  });
  const requests = [
    grpc('/orders.Orders/Get', { 'x-telepresence-id': 'alice', 'grpc-timeout': '4999m' }),
    grpc('/orders.Orders/Get', { 'x-telepresence-id': 'alice', 'grpc-timeout': '4998m' }),
    grpc('/orders.Orders/List', { 'x-telepresence-id': 'bob', authorization: 'Bearer t0k3n', [http2.sensitiveHeaders]: ['authorization'] }),
    grpc('/orders.Orders/List', { 'x-long': 'z'.repeat(5000), 'x-bytes': '\u00e9\u00ff' }),
    grpc('/orders.Orders/Get', { 'x-telepresence-id': 'alice', 'grpc-timeout': '4999m' }),
  ];
  const blocks = await captureClientBlocks(requests);
  const decoder = new HpackDecoder();
  const decoded = blocks.map((block) => decoder.decode(block));
  for (const [i, request] of requests.entries()) {
    const expected = Object.entries(request).flatMap(([name, value]) => [name, String(value)]);
    const pairs = (flat: string[]): string[] => flat.flatMap((_, j) => (j % 2 ? [] : [`${flat[j]}: ${flat[j + 1]}`])).sort();
    const fields = decoded[i]!.fields.filter((_, j, all) => all[j - (j % 2)] !== ':authority');
    assert.deepEqual(pairs(fields), pairs(expected), `request ${i + 1}`);
  }
  // The repeats are made of references to what the first requests added.
  assert.equal(decoded[0]!.stateless, false);
  assert.ok(blocks[4]!.length < blocks[0]!.length / 4, `${blocks[4]!.length} vs ${blocks[0]!.length} bytes`);
  assert.ok(decoder.tableBytes > 0);
});
