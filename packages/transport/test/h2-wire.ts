// Raw HTTP/2 frames for the HPACK tests and bench/micro-hpack.mjs: what a real
// node:http2 (nghttp2) client puts on the wire, and a real node:http2 server's
// reading of a block we encoded.
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const TYPE_HEADERS = 0x1;
const TYPE_SETTINGS = 0x4;
const TYPE_GOAWAY = 0x7;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** Calls `onFrame` for each frame that arrives on `socket`, after skipping `skipBytes` (a client's preface). */
function readFrames(socket: net.Socket, skipBytes: number, onFrame: (type: number, flags: number, payload: Buffer) => void): void {
  let pending = Buffer.alloc(0);
  let skip = skipBytes;
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    if (skip > 0) {
      const skipped = Math.min(skip, pending.length);
      pending = pending.subarray(skipped);
      skip -= skipped;
    }
    while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
      const length = pending.readUIntBE(0, 3);
      onFrame(pending[3]!, pending[4]!, pending.subarray(9, 9 + length));
      pending = pending.subarray(9 + length);
    }
  });
}

/**
 * The header blocks (HEADERS + CONTINUATION payloads, padding and priority
 * removed) a node:http2 client sends for `requests`, one request at a time on
 * one connection, so later blocks refer to the dynamic table earlier ones filled.
 */
export async function captureClientBlocks(requests: readonly http2.OutgoingHttpHeaders[]): Promise<Buffer[]> {
  const blocks: Buffer[] = [];
  let blockArrived = (): void => undefined;
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write(frame(TYPE_SETTINGS, 0, 0, Buffer.alloc(0)));
    let block: Buffer[] = [];
    readFrames(socket, PREFACE.length, (type, flags, payload) => {
      if (type === TYPE_SETTINGS && !(flags & FLAG_ACK)) socket.write(frame(TYPE_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
      if (type !== TYPE_HEADERS && type !== TYPE_CONTINUATION) return;
      if (type === TYPE_HEADERS) {
        const padding = flags & FLAG_PADDED ? payload[0]! : 0;
        if (flags & FLAG_PADDED) payload = payload.subarray(1);
        if (flags & FLAG_PRIORITY) payload = payload.subarray(5);
        payload = payload.subarray(0, payload.length - padding);
      }
      block.push(Buffer.from(payload));
      if (flags & FLAG_END_HEADERS) {
        blocks.push(Buffer.concat(block));
        block = [];
        blockArrived();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => undefined);
  try {
    for (const [i, headers] of requests.entries()) {
      const arrived = new Promise<void>((resolve) => (blockArrived = resolve));
      client.request(headers, { endStream: true }).on('error', () => undefined);
      await arrived;
      if (blocks.length !== i + 1) throw new Error(`expected ${i + 1} blocks, got ${blocks.length}`);
    }
  } finally {
    client.destroy();
    server.close();
  }
  return blocks;
}

const MAX_FRAME_BYTES = 16_384;

/**
 * Sends `block` in a HEADERS frame (and CONTINUATION frames if it is larger than one frame) from a raw socket to a node:http2 server
 * and returns the rawHeaders the server read, or the error it ended the
 * connection with.
 */
export async function nodeServerReads(block: Uint8Array): Promise<string[]> {
  const server = http2.createServer();
  server.on('session', (session) => session.on('error', () => undefined));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const read = new Promise<string[]>((resolve, reject) => {
    server.on('request', (request, response) => {
      response.writeHead(204).end();
      resolve(request.rawHeaders);
    });
    // A block node cannot decode ends the connection: GOAWAY with COMPRESSION_ERROR (9).
    readFrames(socket, 0, (type, _flags, payload) => {
      if (type === TYPE_GOAWAY) reject(new Error(`GOAWAY with error code ${payload.readUInt32BE(4)}`));
    });
    socket.on('close', () => reject(new Error('the node:http2 server closed the connection')));
  });
  // Frames of at most the default SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2): HEADERS, then CONTINUATION.
  const frames = [PREFACE, frame(TYPE_SETTINGS, 0, 0, Buffer.alloc(0))];
  for (let start = 0; start === 0 || start < block.length; start += MAX_FRAME_BYTES) {
    const last = start + MAX_FRAME_BYTES >= block.length;
    const type = start === 0 ? TYPE_HEADERS : TYPE_CONTINUATION;
    const flags = (start === 0 ? FLAG_END_STREAM : 0) | (last ? FLAG_END_HEADERS : 0);
    frames.push(frame(type, flags, 1, block.subarray(start, start + MAX_FRAME_BYTES)));
  }
  socket.write(Buffer.concat(frames));
  try {
    return await read;
  } finally {
    socket.destroy();
    server.close();
  }
}
