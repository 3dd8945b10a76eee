// In-process cost of the agent's HPACK codec (issue 15's HTTP/2 frame relay), in
// ns per header block, without sockets. The blocks are real: a node:http2
// (nghttp2) client sends a typical gRPC request twice on one connection to a raw
// net server here, which keeps the HEADERS payloads. The first block is literals,
// most of them Huffman-coded, that fill the dynamic table; the second, the same
// call again, is references into it. Run after `npx tsc -b`:
//   node bench/micro-hpack.mjs [thousands]
// Rounds are interleaved and medians reported, since the machine may be shared.
import { encodeHeaderBlock, HpackDecoder } from '../packages/transport/dist/src/index.js';
import { captureClientBlocks } from '../packages/transport/dist/test/h2-wire.js';

const N = Math.round(Number(process.argv[2] ?? 200) * 1e3);
const ROUNDS = 5;

const call = {
  ':method': 'POST',
  ':scheme': 'http',
  ':path': '/detour.demo.Orders/GetOrder',
  ':authority': 'orders.staging.svc.cluster.local:50051',
  'grpc-accept-encoding': 'identity,deflate,gzip',
  'accept-encoding': 'identity',
  'user-agent': 'grpc-node-js/1.12.6',
  'content-type': 'application/grpc',
  te: 'trailers',
  'x-telepresence-id': 'alice-7f3c',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
};
const [first, second] = await captureClientBlocks([call, call]);
const fields = new HpackDecoder().decode(first).fields;

function time(run) {
  const start = performance.now();
  run();
  return ((performance.now() - start) * 1e6) / N;
}

let sink = 0;
const variants = {
  [`decode 1st request (${first.length} B: literals, Huffman, adds)`]: () => {
    // One connection's decoder: each pass adds the same entries and evicts the last pass's.
    const decoder = new HpackDecoder();
    return () => { for (let i = 0; i < N; i++) sink += decoder.decode(first).fields.length; };
  },
  [`decode 2nd request (${second.length} B: dynamic-table references)`]: () => {
    const decoder = new HpackDecoder();
    decoder.decode(first);
    return () => { for (let i = 0; i < N; i++) sink += decoder.decode(second).fields.length; };
  },
  [`encodeHeaderBlock, same ${fields.length / 2} fields (${encodeHeaderBlock(fields).length} B)`]: () => {
    return () => { for (let i = 0; i < N; i++) sink += encodeHeaderBlock(fields).length; };
  },
};

const runs = Object.fromEntries(Object.entries(variants).map(([name, make]) => [name, { run: make(), ns: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const entry of Object.values(runs)) entry.ns.push(time(entry.run));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${N / 1e3} k operations × ${ROUNDS} interleaved rounds, median ns per operation (min..max)`);
for (const [name, { ns }] of Object.entries(runs)) {
  console.log(`${name.padEnd(62)} ${median(ns).toFixed(1).padStart(7)}  (${Math.min(...ns).toFixed(1)}..${Math.max(...ns).toFixed(1)})`);
}
if (sink === 0) console.log('(nothing decoded)');
