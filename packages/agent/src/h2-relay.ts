import type { Duplex } from 'node:stream';
import { errorBody } from '@detour/core';
import type { ErrorCode } from '@detour/protocol';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_WINDOW_BYTES,
  dialSocket,
  encodeHeaderBlock,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  FRAME_CONTINUATION,
  FRAME_DATA,
  FRAME_GOAWAY,
  FRAME_HEADERS,
  FRAME_PING,
  FRAME_PRIORITY,
  FRAME_PUSH_PROMISE,
  FRAME_RST_STREAM,
  FRAME_SETTINGS,
  FRAME_WINDOW_UPDATE,
  FrameReader,
  FrameWriter,
  goawayPayload,
  GRPC_STATUS,
  H2_CANCEL,
  H2_COMPRESSION_ERROR,
  H2_ENHANCE_YOUR_CALM,
  H2_FLOW_CONTROL_ERROR,
  H2_FRAME_SIZE_ERROR,
  H2_INTERNAL_ERROR,
  H2_NO_ERROR,
  H2_PROTOCOL_ERROR,
  H2_REFUSED_STREAM,
  H2_STREAM_CLOSED,
  H2ConnectionError,
  HpackDecoder,
  HpackError,
  MAX_WINDOW_BYTES,
  memoryDuplexPair,
  percentEncodeGrpcMessage,
  SESSION_WINDOW_BYTES,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  settingsPayload,
  STREAM_WINDOW_BYTES,
  uint32Payload,
} from '@detour/transport';
import type { FrameSink } from '@detour/transport';
import type { AgentContext } from './exchange.js';
import type { Http2Gateway } from './h2-gateway.js';
import { headBytes } from './h2-gateway.js';
import { appRequestFields, summarizeRequest, trailersProblem, withoutRelayOwned } from './h2-request-fields.js';
import type { Route } from './router.js';

/**
 * The agent's HTTP/2 front (h2c with prior knowledge, or TLS with ALPN h2):
 * a frame relay. Each client connection is paired with its own connection to
 * the app, and a stream the router sends to the app is moved frame by frame
 * under the same stream id: HEADERS are decoded (HPACK) to route and
 * re-encoded, DATA, RST_STREAM and trailers pass on, and each side's flow
 * control is kept by the relay. No node:http2 object exists for such a
 * stream, which is what made h2c through the agent cost several times
 * nginx's (docs/performance.md). Every other stream — a developer's, a held
 * one, one the offline policy answers, a wiretapped one, one `detour trace`
 * watches, one with a head over the limit — goes the same way to the
 * in-process {@link Http2Gateway}, over an in-memory HTTP/2 connection, with
 * the router's decision: what node:http2 did for them is unchanged.
 */
export class Http2Relay {
  readonly #ctx: AgentContext;
  readonly #gateway: Http2Gateway;
  readonly #connections = new Set<RelayedConnection>();

  constructor(ctx: AgentContext, gateway: Http2Gateway) {
    this.#ctx = ctx;
    this.#gateway = gateway;
  }

  /** Takes a connection whose next bytes are the HTTP/2 client preface (RFC 9113 §3.4). */
  accept(socket: Duplex): void {
    const connection = new RelayedConnection(socket, this.#ctx, this.#gateway, () => this.#connections.delete(connection));
    this.#connections.add(connection);
  }

  /** GOAWAY to every client: streams in flight finish, new ones go to another connection. */
  close(): Promise<void> {
    return Promise.all([...this.#connections].map((connection) => connection.close())).then(() => undefined);
  }

  destroy(): void {
    for (const connection of this.#connections) connection.destroy();
  }
}

/** Settings the relay asks of its clients: the windows and stream limit node:http2 was given before (RELAY_HTTP2_SETTINGS). */
const CLIENT_SETTINGS = settingsPayload([
  [SETTINGS_MAX_CONCURRENT_STREAMS, 1000],
  [SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW_BYTES],
]);
/**
 * Settings towards the app and the gateway: no push, large windows, and no
 * HPACK dynamic table, so that their response blocks mean the same to the
 * client's decoder and pass on as they are.
 */
const UPSTREAM_SETTINGS = settingsPayload([
  [SETTINGS_HEADER_TABLE_SIZE, 0],
  [SETTINGS_ENABLE_PUSH, 0],
  [SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW_BYTES],
]);
const CLIENT_MAX_CONCURRENT_STREAMS = 1000;
/** Consumed bytes are given back once half a window is used, as nghttp2 does: few WINDOW_UPDATEs, never a stall. */
const STREAM_CREDIT_THRESHOLD = STREAM_WINDOW_BYTES / 2;
const SESSION_CREDIT_THRESHOLD = SESSION_WINDOW_BYTES / 2;
const EMPTY = Buffer.alloc(0);

/** A frame waiting for flow-control window, in order with the others of its stream and direction. */
interface Pending {
  readonly type: typeof FRAME_DATA | typeof FRAME_HEADERS | typeof FRAME_RST_STREAM;
  /** DATA: the bytes still to send; HEADERS: the header block; RST_STREAM: unused. */
  data: Buffer;
  readonly end: boolean;
  /** RST_STREAM's code. */
  readonly code?: number;
}

/** One end of the relay: the client's connection, or one towards the app or the gateway. */
class Side {
  readonly writer: FrameWriter;
  /** What we may still send on the connection (its peer's connection window). */
  sendWindow = DEFAULT_WINDOW_BYTES;
  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE: each new stream's send window. */
  peerInitialWindow = DEFAULT_WINDOW_BYTES;
  peerMaxFrame = DEFAULT_MAX_FRAME_BYTES;
  /** What the peer may still send us on the connection, and what it used that we have not given back. */
  recvWindow: number;
  recvCredit = 0;
  /** A HEADERS block waiting for its CONTINUATION frames. */
  block: { streamId: number; flags: number; parts: Buffer[]; bytes: number } | undefined;
  /** Streams with frames waiting for this side's connection window. */
  readonly blocked = new Set<RelayStream>();

  constructor(
    readonly socket: Duplex,
    readonly decoder: HpackDecoder,
    recvWindow: number,
  ) {
    this.writer = new FrameWriter(socket);
    this.recvWindow = recvWindow;
  }

  /** Gives the peer back `bytes` of connection window once enough has accumulated. */
  credit(bytes: number): void {
    this.recvCredit += bytes;
    if (this.recvCredit < SESSION_CREDIT_THRESHOLD) return;
    this.writer.frame(FRAME_WINDOW_UPDATE, 0, 0, uint32Payload(this.recvCredit));
    this.recvWindow += this.recvCredit;
    this.recvCredit = 0;
  }

  /** A header block as HEADERS and, past the peer's frame size, CONTINUATION frames. */
  headers(streamId: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrame;
    if (block.length <= max) {
      this.writer.frame(FRAME_HEADERS, FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0), streamId, block);
      return;
    }
    this.writer.frame(FRAME_HEADERS, endStream ? FLAG_END_STREAM : 0, streamId, block.subarray(0, max));
    for (let at = max; at < block.length; at += max) {
      const last = at + max >= block.length;
      this.writer.frame(FRAME_CONTINUATION, last ? FLAG_END_HEADERS : 0, streamId, block.subarray(at, Math.min(at + max, block.length)));
    }
  }
}

/** A connection towards the app or the gateway, used by one client connection. */
class Upstream extends Side {
  readonly streams = new Set<RelayStream>();
  /** Set once it sent GOAWAY, or failed: it takes no new stream. */
  draining = false;
  /** Set once its preface and SETTINGS arrived (the first frame must be SETTINGS, RFC 9113 §3.4). */
  settled = false;

  constructor(
    socket: Duplex,
    readonly kind: 'app' | 'gateway',
  ) {
    // A peer that ignores our HEADER_TABLE_SIZE of 0 is still decoded (its blocks are then re-encoded).
    super(socket, new HpackDecoder(4096), SESSION_WINDOW_BYTES);
    this.writer.raw(CLIENT_PREFACE);
    this.writer.frame(FRAME_SETTINGS, 0, 0, UPSTREAM_SETTINGS);
    this.writer.frame(FRAME_WINDOW_UPDATE, 0, 0, uint32Payload(SESSION_WINDOW_BYTES - DEFAULT_WINDOW_BYTES));
  }
}

/** One stream, known to the client and to the upstream it was sent to, under the same id. */
class RelayStream {
  toUpstreamWindow: number;
  toClientWindow: number;
  /** What the client may still send on this stream, and what it used that we have not given back. */
  clientRecvWindow = STREAM_WINDOW_BYTES;
  clientCredit = 0;
  upstreamRecvWindow = STREAM_WINDOW_BYTES;
  upstreamCredit = 0;
  toUpstream: Pending[] | undefined;
  toClient: Pending[] | undefined;
  /** END_STREAM seen from each side (or the side reset). */
  clientDone = false;
  upstreamDone = false;
  /** END_STREAM passed on to each side. */
  endSentToUpstream = false;
  endSentToClient = false;
  /** The upstream's response HEADERS arrived: a failure now is a reset, no longer an answer of our own. */
  responseStarted = false;
  /** The relay answered the client itself (the app could not): what the client still sends is dropped. */
  answeredLocally = false;
  receivedBodyBytes = 0;
  readonly startedAt = performance.now();

  constructor(
    readonly id: number,
    readonly upstream: Upstream,
    readonly client: Side,
    readonly grpc: boolean,
    readonly contentLength: number | undefined,
  ) {
    this.toUpstreamWindow = upstream.peerInitialWindow;
    this.toClientWindow = client.peerInitialWindow;
  }
}

type SideName = 'client' | Upstream;

/** One client connection and the upstream connections its streams use. */
class RelayedConnection {
  readonly #ctx: AgentContext;
  readonly #gateway: Http2Gateway;
  readonly #client: Side;
  readonly #clientReader: FrameReader;
  readonly #streams = new Map<number, RelayStream>();
  /** The router's decisions for streams sent to the gateway, read by it when each stream arrives. */
  readonly #decisions = new Map<number, Route>();
  readonly #appScheme: string;
  readonly #maxBlockBytes: number;
  #app: Upstream | undefined;
  #gatewayUpstream: Upstream | undefined;
  #prefaceSeen = false;
  #settingsSeen = false;
  #lastClientStreamId = 0;
  /** Set once we sent GOAWAY: streams above this id are refused. */
  #goawayLastId: number | undefined;
  #closed = false;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #onClosed: () => void;
  readonly #drained: (() => void)[] = [];

  constructor(socket: Duplex, ctx: AgentContext, gateway: Http2Gateway, onClosed: () => void) {
    this.#ctx = ctx;
    this.#gateway = gateway;
    this.#onClosed = onClosed;
    this.#appScheme = ctx.options.app.tls === undefined ? 'http' : 'https';
    // A head the gateway answers with 431 must still be decoded (HPACK state); far past the limit it is an attack.
    this.#maxBlockBytes = Math.max(4 * ctx.options.maxHeaderBytes, 64 * 1024);
    this.#client = new Side(socket, new HpackDecoder(4096), SESSION_WINDOW_BYTES);
    this.#clientReader = new FrameReader(this.#sink('client'));
    this.#client.writer.frame(FRAME_SETTINGS, 0, 0, CLIENT_SETTINGS);
    this.#client.writer.frame(FRAME_WINDOW_UPDATE, 0, 0, uint32Payload(SESSION_WINDOW_BYTES - DEFAULT_WINDOW_BYTES));
    let preface: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      try {
        if (!this.#prefaceSeen) {
          preface = preface === undefined ? chunk : Buffer.concat([preface, chunk]);
          if (preface.length < CLIENT_PREFACE.length) return;
          if (!preface.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'not the HTTP/2 client preface');
          this.#prefaceSeen = true;
          chunk = preface.subarray(CLIENT_PREFACE.length);
          preface = undefined;
        }
        this.#clientReader.push(chunk);
      } catch (err) {
        this.#connectionError('client', err);
      }
    });
    socket.on('end', () => this.#clientEnded());
    socket.on('error', (err) => ctx.logger.debug({ err: err.message }, 'client HTTP/2 connection error'));
    socket.once('close', () => this.destroy());
    socket.resume();
    this.#armIdle();
  }

  /** GOAWAY: streams in flight finish; resolves once the connection is gone. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained.push(resolve);
      this.#goaway(H2_NO_ERROR);
      this.#maybeFinish();
    });
  }

  /** Drops the connection at once: streams still open are cancelled towards their upstreams. */
  destroy(): void {
    this.#teardown();
    this.#client.socket.destroy();
  }

  /** Ends the connection once what is queued for the client (GOAWAY, last answers) is out. */
  #finish(): void {
    this.#teardown();
    const socket = this.#client.socket;
    if (socket.destroyed) return;
    socket.end();
    socket.once('finish', () => socket.destroy());
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    for (const stream of this.#streams.values()) this.#resetUpstream(stream, H2_CANCEL);
    this.#streams.clear();
    this.#decisions.clear();
    for (const upstream of [this.#app, this.#gatewayUpstream]) {
      if (upstream === undefined || upstream.socket.destroyed) continue;
      upstream.writer.frame(FRAME_GOAWAY, 0, 0, goawayPayload(0, H2_NO_ERROR));
      upstream.writer.flush();
      upstream.socket.end();
    }
    this.#client.writer.flush();
    for (const resolve of this.#drained.splice(0)) resolve();
    this.#onClosed();
  }

  #sink(side: SideName): FrameSink {
    return { frame: (type, flags, streamId, payload) => (side === 'client' ? this.#clientFrame(type, flags, streamId, payload) : this.#upstreamFrame(side, type, flags, streamId, payload)) };
  }

  // ---- frames from the client ----

  #clientFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    const client = this.#client;
    if (client.block !== undefined && type !== FRAME_CONTINUATION) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'a header block was interrupted');
    if (!this.#settingsSeen) {
      if (type !== FRAME_SETTINGS || (flags & FLAG_ACK) !== 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'the preface must be followed by SETTINGS');
      this.#settingsSeen = true;
    }
    switch (type) {
      case FRAME_DATA:
        this.#clientData(flags, streamId, payload);
        return;
      case FRAME_HEADERS:
        this.#startBlock(client, flags, streamId, payload);
        if ((flags & FLAG_END_HEADERS) !== 0) this.#clientBlock();
        return;
      case FRAME_CONTINUATION:
        this.#continueBlock(client, streamId, payload);
        if ((flags & FLAG_END_HEADERS) !== 0) this.#clientBlock();
        return;
      case FRAME_RST_STREAM:
        this.#clientReset(streamId, payload);
        return;
      case FRAME_SETTINGS:
        this.#settings(client, flags, streamId, payload);
        return;
      case FRAME_WINDOW_UPDATE:
        this.#windowUpdate('client', streamId, payload);
        return;
      case FRAME_PING:
        this.#ping(client, flags, streamId, payload);
        return;
      case FRAME_GOAWAY:
        if (streamId !== 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'GOAWAY on a stream');
        return;
      case FRAME_PRIORITY:
        if (streamId === 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'PRIORITY on stream 0');
        return;
      case FRAME_PUSH_PROMISE:
        throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'a client may not push');
      default:
      // Unknown frame types are ignored (RFC 9113 §4.1).
    }
  }

  #clientData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'DATA on stream 0');
    const client = this.#client;
    const length = payload.length;
    client.recvWindow -= length;
    if (client.recvWindow < 0) throw new H2ConnectionError(H2_FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    const stream = this.#streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.#lastClientStreamId) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'DATA on an idle stream');
      // A stream already reset or answered: the client's frames in flight are dropped.
      client.credit(length);
      return;
    }
    if (stream.clientDone) {
      client.credit(length);
      // After our answer and RST_STREAM(NO_ERROR), the client's frames in flight are expected; after its own END_STREAM they are an error.
      if (!stream.answeredLocally) this.#streamError(stream, H2_STREAM_CLOSED);
      return;
    }
    stream.clientRecvWindow -= length;
    if (stream.clientRecvWindow < 0) {
      client.credit(length);
      this.#streamError(stream, H2_FLOW_CONTROL_ERROR);
      return;
    }
    const data = unpadded(flags, payload);
    const end = (flags & FLAG_END_STREAM) !== 0;
    // Padding is nobody's: its window is given back at once.
    if (data.length !== length) this.#creditClient(stream, length - data.length);
    stream.receivedBodyBytes += data.length;
    if (stream.contentLength !== undefined && (stream.receivedBodyBytes > stream.contentLength || (end && stream.receivedBodyBytes !== stream.contentLength))) {
      this.#creditClient(stream, data.length);
      this.#streamError(stream, H2_PROTOCOL_ERROR);
      return;
    }
    if (end) stream.clientDone = true;
    if (stream.endSentToUpstream) {
      // The upstream reset its side (NO_ERROR after a complete response): the rest of the request has nowhere to go.
      this.#creditClient(stream, data.length);
      return;
    }
    this.#send(stream, 'upstream', { type: FRAME_DATA, data, end });
  }

  /** A complete header block from the client: a new stream, or trailers. */
  #clientBlock(): void {
    const client = this.#client;
    const { streamId, flags, parts, bytes } = client.block!;
    client.block = undefined;
    const block = parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes);
    let fields: string[];
    try {
      // Every block is decoded, even one for a stream about to be refused: the decoder's table must follow the client's.
      fields = client.decoder.decode(block, this.#maxBlockBytes).fields;
    } catch (err) {
      if (err instanceof HpackError) throw new H2ConnectionError(H2_COMPRESSION_ERROR, err.message);
      throw err;
    }
    const end = (flags & FLAG_END_STREAM) !== 0;
    const stream = this.#streams.get(streamId);
    if (stream !== undefined) {
      this.#clientTrailers(stream, fields, end);
      return;
    }
    if (streamId % 2 === 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'a client stream id must be odd');
    if (streamId <= this.#lastClientStreamId) {
      // Trailers of a stream that is gone (reset, answered) are dropped; reopening a stream is an error.
      return;
    }
    this.#lastClientStreamId = streamId;
    if (this.#goawayLastId !== undefined || this.#streams.size >= CLIENT_MAX_CONCURRENT_STREAMS) {
      this.#client.writer.frame(FRAME_RST_STREAM, 0, streamId, uint32Payload(H2_REFUSED_STREAM));
      return;
    }
    this.#open(streamId, fields, end);
  }

  #open(streamId: number, fields: string[], end: boolean): void {
    const summary = summarizeRequest(fields);
    if (typeof summary === 'string') {
      this.#ctx.logger.debug({ streamId, reason: summary }, 'malformed HTTP/2 request');
      this.#client.writer.frame(FRAME_RST_STREAM, 0, streamId, uint32Payload(H2_PROTOCOL_ERROR));
      return;
    }
    const { router, link, options } = this.#ctx;
    let route: Route | undefined;
    let toApp = false;
    // A head over the limit gets the gateway's 431 before any decision, as on HTTP/1.1.
    if (headBytes(fields) <= options.maxHeaderBytes) {
      route = router.decide(summary.method, summary.path, fields, link.ready);
      toApp =
        route.kind === 'app' &&
        summary.method !== 'CONNECT' &&
        router.probes === undefined &&
        (router.wiretaps === undefined || router.wiretaps.matchingStream(summary.path, fields) === undefined);
    }
    if (end && summary.contentLength !== undefined && summary.contentLength !== 0) {
      this.#client.writer.frame(FRAME_RST_STREAM, 0, streamId, uint32Payload(H2_PROTOCOL_ERROR));
      return;
    }
    const upstream = toApp ? this.#appUpstream() : this.#gatewaySide();
    const stream = new RelayStream(streamId, upstream, this.#client, summary.grpc, summary.contentLength);
    stream.clientDone = end;
    this.#streams.set(streamId, stream);
    upstream.streams.add(stream);
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (!toApp && route !== undefined) this.#decisions.set(streamId, route);
    const outgoing = toApp ? appRequestFields(fields, this.#appScheme) : fields;
    this.#send(stream, 'upstream', { type: FRAME_HEADERS, data: encodeHeaderBlock(outgoing), end });
  }

  #clientTrailers(stream: RelayStream, fields: string[], end: boolean): void {
    if (stream.clientDone) {
      if (!stream.answeredLocally) this.#streamError(stream, H2_STREAM_CLOSED);
      return;
    }
    const problem = end ? trailersProblem(fields) : 'trailers without END_STREAM';
    if (problem !== undefined) {
      this.#ctx.logger.debug({ streamId: stream.id, reason: problem }, 'malformed HTTP/2 trailers');
      this.#streamError(stream, H2_PROTOCOL_ERROR);
      return;
    }
    if (stream.contentLength !== undefined && stream.receivedBodyBytes !== stream.contentLength) {
      this.#streamError(stream, H2_PROTOCOL_ERROR);
      return;
    }
    stream.clientDone = true;
    if (stream.endSentToUpstream) return;
    const outgoing = stream.upstream.kind === 'app' ? (withoutRelayOwned(fields) ?? fields) : fields;
    this.#send(stream, 'upstream', { type: FRAME_HEADERS, data: encodeHeaderBlock(outgoing), end: true });
  }

  #clientReset(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new H2ConnectionError(H2_FRAME_SIZE_ERROR, 'RST_STREAM must be 4 bytes');
    if (streamId > this.#lastClientStreamId) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return;
    stream.clientDone = true;
    stream.endSentToClient = true;
    this.#resetUpstream(stream, payload.readUInt32BE(0));
    this.#retire(stream, false);
  }

  // ---- frames from an upstream (the app, or the gateway) ----

  #upstreamFrame(upstream: Upstream, type: number, flags: number, streamId: number, payload: Buffer): void {
    if (upstream.block !== undefined && type !== FRAME_CONTINUATION) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'a header block was interrupted');
    if (!upstream.settled) {
      if (type !== FRAME_SETTINGS || (flags & FLAG_ACK) !== 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'the server preface must be SETTINGS');
      upstream.settled = true;
    }
    switch (type) {
      case FRAME_DATA:
        this.#upstreamData(upstream, flags, streamId, payload);
        return;
      case FRAME_HEADERS:
        this.#startBlock(upstream, flags, streamId, payload);
        if ((flags & FLAG_END_HEADERS) !== 0) this.#upstreamBlock(upstream);
        return;
      case FRAME_CONTINUATION:
        this.#continueBlock(upstream, streamId, payload);
        if ((flags & FLAG_END_HEADERS) !== 0) this.#upstreamBlock(upstream);
        return;
      case FRAME_RST_STREAM:
        this.#upstreamReset(upstream, streamId, payload);
        return;
      case FRAME_SETTINGS:
        this.#settings(upstream, flags, streamId, payload);
        return;
      case FRAME_WINDOW_UPDATE:
        this.#windowUpdate(upstream, streamId, payload);
        return;
      case FRAME_PING:
        this.#ping(upstream, flags, streamId, payload);
        return;
      case FRAME_GOAWAY:
        this.#upstreamGoaway(upstream, payload);
        return;
      case FRAME_PUSH_PROMISE:
        throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'push was disabled');
      default:
    }
  }

  #upstreamData(upstream: Upstream, flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'DATA on stream 0');
    const length = payload.length;
    upstream.recvWindow -= length;
    if (upstream.recvWindow < 0) throw new H2ConnectionError(H2_FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    const stream = this.#streams.get(streamId);
    if (stream === undefined || stream.upstream !== upstream || stream.upstreamDone) {
      upstream.credit(length);
      return;
    }
    stream.upstreamRecvWindow -= length;
    if (stream.upstreamRecvWindow < 0) {
      upstream.credit(length);
      this.#upstreamFailed(stream, H2_FLOW_CONTROL_ERROR);
      return;
    }
    const data = unpadded(flags, payload);
    if (data.length !== length) this.#creditUpstream(stream, length - data.length);
    const end = (flags & FLAG_END_STREAM) !== 0;
    if (end) stream.upstreamDone = true;
    this.#send(stream, 'client', { type: FRAME_DATA, data, end });
  }

  #upstreamBlock(upstream: Upstream): void {
    const { streamId, flags, parts, bytes } = upstream.block!;
    upstream.block = undefined;
    const block = parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes);
    let decoded;
    try {
      decoded = upstream.decoder.decode(block, this.#maxBlockBytes);
    } catch (err) {
      if (err instanceof HpackError) throw new H2ConnectionError(H2_COMPRESSION_ERROR, err.message);
      throw err;
    }
    const stream = this.#streams.get(streamId);
    if (stream === undefined || stream.upstream !== upstream || stream.upstreamDone) return;
    const end = (flags & FLAG_END_STREAM) !== 0;
    if (end) stream.upstreamDone = true;
    stream.responseStarted = true;
    // The app may not speak for the relay; a block that changed the app's table is re-encoded for the client's.
    const filtered = upstream.kind === 'app' ? withoutRelayOwned(decoded.fields) : undefined;
    const out = filtered === undefined && decoded.stateless ? block : encodeHeaderBlock(filtered ?? decoded.fields);
    this.#send(stream, 'client', { type: FRAME_HEADERS, data: out, end });
  }

  #upstreamReset(upstream: Upstream, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new H2ConnectionError(H2_FRAME_SIZE_ERROR, 'RST_STREAM must be 4 bytes');
    const stream = this.#streams.get(streamId);
    if (stream === undefined || stream.upstream !== upstream) return;
    const code = payload.readUInt32BE(0);
    stream.upstreamDone = true;
    stream.endSentToUpstream = true;
    this.#dropPending(stream, 'upstream');
    // NO_ERROR after a complete response (RFC 9113 §8.1) must not overtake that response.
    if (code === H2_NO_ERROR && stream.toClient !== undefined) {
      stream.toClient.push({ type: FRAME_RST_STREAM, data: EMPTY, end: true, code });
      return;
    }
    this.#dropPending(stream, 'client');
    this.#client.writer.frame(FRAME_RST_STREAM, 0, streamId, uint32Payload(code));
    stream.clientDone = true;
    stream.endSentToClient = true;
    this.#retire(stream, false);
  }

  /** The upstream will not take streams above `lastStreamId`: those never reached it, and the client may retry them. */
  #upstreamGoaway(upstream: Upstream, payload: Buffer): void {
    if (payload.length < 8) throw new H2ConnectionError(H2_FRAME_SIZE_ERROR, 'GOAWAY must be at least 8 bytes');
    const lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
    this.#retireUpstream(upstream);
    for (const stream of [...upstream.streams]) {
      if (stream.id <= lastStreamId) continue;
      this.#dropPending(stream, 'upstream');
      this.#dropPending(stream, 'client');
      this.#client.writer.frame(FRAME_RST_STREAM, 0, stream.id, uint32Payload(H2_REFUSED_STREAM));
      stream.clientDone = stream.upstreamDone = stream.endSentToClient = stream.endSentToUpstream = true;
      this.#retire(stream, false);
    }
    this.#endUpstreamIfIdle(upstream);
  }

  // ---- both directions ----

  #startBlock(side: Side, flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'HEADERS on stream 0');
    let block = unpadded(flags, payload);
    if ((flags & FLAG_PRIORITY) !== 0) {
      if (block.length < 5) throw new H2ConnectionError(H2_FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
      block = block.subarray(5);
    }
    side.block = { streamId, flags, parts: [block], bytes: block.length };
  }

  #continueBlock(side: Side, streamId: number, payload: Buffer): void {
    const block = side.block;
    if (block === undefined || block.streamId !== streamId) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'CONTINUATION without its HEADERS');
    block.parts.push(payload);
    block.bytes += payload.length;
    if (block.bytes > this.#maxBlockBytes) throw new H2ConnectionError(H2_ENHANCE_YOUR_CALM, `a header block over ${this.#maxBlockBytes} bytes`);
  }

  #settings(side: Side, flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & FLAG_ACK) !== 0) {
      if (payload.length !== 0) throw new H2ConnectionError(H2_FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new H2ConnectionError(H2_FRAME_SIZE_ERROR, 'SETTINGS length is not a multiple of 6');
    for (let at = 0; at < payload.length; at += 6) {
      const id = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW_BYTES) throw new H2ConnectionError(H2_FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1');
        this.#initialWindowChanged(side, value - side.peerInitialWindow);
        side.peerInitialWindow = value;
      } else if (id === SETTINGS_MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_BYTES || value > 0xffffff) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
        side.peerMaxFrame = value;
      } else if (id === SETTINGS_ENABLE_PUSH && value > 1) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH must be 0 or 1');
      // HEADER_TABLE_SIZE: every block we encode is stateless, so any table size is honoured.
    }
    side.writer.frame(FRAME_SETTINGS, FLAG_ACK, 0);
  }

  /** A new SETTINGS_INITIAL_WINDOW_SIZE shifts the send window of every open stream on that connection (RFC 9113 §6.9.2). */
  #initialWindowChanged(side: Side, delta: number): void {
    if (delta === 0) return;
    for (const stream of side === this.#client ? this.#streams.values() : (side as Upstream).streams) {
      if (side === this.#client) stream.toClientWindow += delta;
      else stream.toUpstreamWindow += delta;
      if (delta > 0) this.#flushPending(stream, side === this.#client ? 'client' : 'upstream');
    }
  }

  #windowUpdate(from: SideName, streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2ConnectionError(H2_FRAME_SIZE_ERROR, 'WINDOW_UPDATE must be 4 bytes');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    const side = from === 'client' ? this.#client : from;
    const direction = from === 'client' ? 'client' : 'upstream';
    if (streamId === 0) {
      if (increment === 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      side.sendWindow += increment;
      if (side.sendWindow > MAX_WINDOW_BYTES) throw new H2ConnectionError(H2_FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
      for (const stream of [...side.blocked]) {
        side.blocked.delete(stream);
        this.#flushPending(stream, direction);
      }
      return;
    }
    const stream = this.#streams.get(streamId);
    if (stream === undefined || (from !== 'client' && stream.upstream !== from)) return;
    if (increment === 0) {
      if (from === 'client') this.#streamError(stream, H2_PROTOCOL_ERROR);
      else this.#upstreamFailed(stream, H2_PROTOCOL_ERROR);
      return;
    }
    if (from === 'client') stream.toClientWindow += increment;
    else stream.toUpstreamWindow += increment;
    this.#flushPending(stream, direction);
  }

  #ping(side: Side, flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'PING on a stream');
    if (payload.length !== 8) throw new H2ConnectionError(H2_FRAME_SIZE_ERROR, 'PING must be 8 bytes');
    if ((flags & FLAG_ACK) === 0) side.writer.frame(FRAME_PING, FLAG_ACK, 0, Buffer.from(payload));
  }

  /**
   * Sends a frame of `stream` towards `to` in order with those waiting, as far
   * as both flow-control windows allow; the rest waits for WINDOW_UPDATE. What
   * leaves is given back to the side it came from.
   */
  #send(stream: RelayStream, to: 'client' | 'upstream', frame: Pending): void {
    const queue = to === 'client' ? stream.toClient : stream.toUpstream;
    if (queue !== undefined) {
      queue.push(frame);
      return;
    }
    if (!this.#write(stream, to, frame)) {
      if (to === 'client') stream.toClient = [frame];
      else stream.toUpstream = [frame];
    }
  }

  /** Writes what the windows allow of `frame`; false when some of it must wait (it is then trimmed to the rest). */
  #write(stream: RelayStream, to: 'client' | 'upstream', frame: Pending): boolean {
    const side = to === 'client' ? this.#client : stream.upstream;
    if (frame.type === FRAME_HEADERS) {
      side.headers(stream.id, frame.data, frame.end);
      this.#sent(stream, to, frame.end);
      return true;
    }
    if (frame.type === FRAME_RST_STREAM) {
      side.writer.frame(FRAME_RST_STREAM, 0, stream.id, uint32Payload(frame.code!));
      this.#sent(stream, to, true);
      return true;
    }
    const window = Math.min(to === 'client' ? stream.toClientWindow : stream.toUpstreamWindow, side.sendWindow);
    const data = frame.data;
    const n = Math.min(window, data.length);
    if (n < data.length || (n === 0 && data.length > 0)) {
      if (n > 0) this.#writeData(stream, to, side, data.subarray(0, n), false);
      frame.data = data.subarray(n);
      if (side.sendWindow <= 0) side.blocked.add(stream);
      return false;
    }
    this.#writeData(stream, to, side, data, frame.end);
    this.#sent(stream, to, frame.end);
    return true;
  }

  #writeData(stream: RelayStream, to: 'client' | 'upstream', side: Side, data: Buffer, end: boolean): void {
    side.writer.frame(FRAME_DATA, end ? FLAG_END_STREAM : 0, stream.id, data);
    side.sendWindow -= data.length;
    if (to === 'client') {
      stream.toClientWindow -= data.length;
      this.#creditUpstream(stream, data.length);
    } else {
      stream.toUpstreamWindow -= data.length;
      this.#creditClient(stream, data.length);
    }
  }

  #sent(stream: RelayStream, to: 'client' | 'upstream', end: boolean): void {
    if (!end) return;
    if (to === 'client') stream.endSentToClient = true;
    else stream.endSentToUpstream = true;
    this.#maybeRetire(stream);
  }

  #flushPending(stream: RelayStream, to: 'client' | 'upstream'): void {
    const queue = to === 'client' ? stream.toClient : stream.toUpstream;
    if (queue === undefined) return;
    while (queue.length > 0) {
      if (!this.#write(stream, to, queue[0]!)) return;
      queue.shift();
    }
    if (to === 'client') stream.toClient = undefined;
    else stream.toUpstream = undefined;
  }

  /** Drops frames waiting towards `to`; their bytes were counted against the side they came from, which gets them back. */
  #dropPending(stream: RelayStream, to: 'client' | 'upstream'): void {
    const queue = to === 'client' ? stream.toClient : stream.toUpstream;
    if (queue === undefined) return;
    let bytes = 0;
    for (const frame of queue) if (frame.type === FRAME_DATA) bytes += frame.data.length;
    if (to === 'client') {
      stream.toClient = undefined;
      stream.upstream.credit(bytes);
    } else {
      stream.toUpstream = undefined;
      this.#client.credit(bytes);
    }
    this.#client.blocked.delete(stream);
    stream.upstream.blocked.delete(stream);
  }

  #creditClient(stream: RelayStream, bytes: number): void {
    this.#client.credit(bytes);
    if (stream.clientDone) return;
    stream.clientCredit += bytes;
    if (stream.clientCredit < STREAM_CREDIT_THRESHOLD) return;
    this.#client.writer.frame(FRAME_WINDOW_UPDATE, 0, stream.id, uint32Payload(stream.clientCredit));
    stream.clientRecvWindow += stream.clientCredit;
    stream.clientCredit = 0;
  }

  #creditUpstream(stream: RelayStream, bytes: number): void {
    stream.upstream.credit(bytes);
    if (stream.upstreamDone) return;
    stream.upstreamCredit += bytes;
    if (stream.upstreamCredit < STREAM_CREDIT_THRESHOLD) return;
    stream.upstream.writer.frame(FRAME_WINDOW_UPDATE, 0, stream.id, uint32Payload(stream.upstreamCredit));
    stream.upstreamRecvWindow += stream.upstreamCredit;
    stream.upstreamCredit = 0;
  }

  // ---- ends of streams ----

  /** A stream is done once both ends were passed on. */
  #maybeRetire(stream: RelayStream): void {
    if (stream.endSentToClient && stream.endSentToUpstream) this.#retire(stream, true);
  }

  #retire(stream: RelayStream, clean: boolean): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    this.#decisions.delete(stream.id);
    const { upstream } = stream;
    upstream.streams.delete(stream);
    upstream.blocked.delete(stream);
    this.#client.blocked.delete(stream);
    // The gateway measures the streams it handles; the app's are measured here, from decision to a clean end.
    if (clean && upstream.kind === 'app' && !stream.answeredLocally) this.#ctx.metrics.toApp.observe((performance.now() - stream.startedAt) / 1e3);
    if (upstream.draining) this.#endUpstreamIfIdle(upstream);
    if (this.#streams.size === 0) this.#armIdle();
    this.#maybeFinish();
  }

  /** A stream error on the client's side (RFC 9113 §5.4.2): both ends are reset. */
  #streamError(stream: RelayStream, code: number): void {
    this.#dropPending(stream, 'client');
    this.#client.writer.frame(FRAME_RST_STREAM, 0, stream.id, uint32Payload(code));
    stream.clientDone = stream.endSentToClient = true;
    this.#resetUpstream(stream, H2_CANCEL);
    this.#retire(stream, false);
  }

  /** The upstream broke one stream: the client's is reset, or answered by us when no response had begun. */
  #upstreamFailed(stream: RelayStream, code: number): void {
    this.#resetUpstream(stream, code);
    if (!stream.responseStarted) {
      this.#answerUnreachable(stream, `HTTP/2 code ${code}`);
      return;
    }
    this.#dropPending(stream, 'client');
    this.#client.writer.frame(FRAME_RST_STREAM, 0, stream.id, uint32Payload(H2_INTERNAL_ERROR));
    stream.clientDone = stream.endSentToClient = true;
    this.#retire(stream, false);
  }

  #resetUpstream(stream: RelayStream, code: number): void {
    if (!stream.upstreamDone || !stream.endSentToUpstream) {
      this.#dropPending(stream, 'upstream');
      if (!stream.upstream.socket.destroyed) stream.upstream.writer.frame(FRAME_RST_STREAM, 0, stream.id, uint32Payload(code));
    }
    stream.upstreamDone = stream.endSentToUpstream = true;
  }

  /**
   * The app did not answer a stream: the client gets detour's own error, as
   * the gateway gives it (a gRPC caller UNAVAILABLE, anyone else a JSON 502),
   * and what it still sends is dropped.
   */
  #answerUnreachable(stream: RelayStream, reason: string): void {
    const { app } = this.#ctx.options;
    const message = `the app at ${app.host}:${app.port} did not answer over HTTP/2 (${reason})`;
    stream.answeredLocally = true;
    stream.upstreamDone = stream.endSentToUpstream = true;
    this.#dropPending(stream, 'upstream');
    this.#dropPending(stream, 'client');
    this.#answerLocally(stream, { status: 502, code: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE', grpcStatus: GRPC_STATUS.UNAVAILABLE, message });
    if (!stream.clientDone) {
      // The answer is complete; the client need not send the rest of its request (RFC 9113 §8.1).
      this.#send(stream, 'client', { type: FRAME_RST_STREAM, data: EMPTY, end: true, code: H2_NO_ERROR });
      stream.clientDone = true;
    }
    this.#maybeRetire(stream);
  }

  #answerLocally(stream: RelayStream, error: { status: number; code: ErrorCode; grpcStatus: number; message: string }): void {
    if (stream.grpc) {
      const block = encodeHeaderBlock([':status', '200', 'content-type', 'application/grpc', 'grpc-status', String(error.grpcStatus), 'grpc-message', percentEncodeGrpcMessage(error.message)]);
      this.#send(stream, 'client', { type: FRAME_HEADERS, data: block, end: true });
      return;
    }
    const body = Buffer.from(JSON.stringify(errorBody(error.code, error.message)));
    this.#send(stream, 'client', { type: FRAME_HEADERS, data: encodeHeaderBlock([':status', String(error.status), 'content-type', 'application/json', 'content-length', String(body.length)]), end: false });
    this.#send(stream, 'client', { type: FRAME_DATA, data: body, end: true });
  }

  // ---- connections ----

  /** The connection to the app streams go to: the current one, or a new one once it drains or failed. */
  #appUpstream(): Upstream {
    if (this.#app !== undefined && !this.#app.draining) return this.#app;
    const { app } = this.#ctx.options;
    // RFC 9113 §3.2: h2 over TLS is negotiated with ALPN. Writes before the connect are buffered by the socket.
    const socket = dialSocket({ host: app.host, port: app.port, tls: app.tls }, { alpn: app.tls === undefined ? undefined : ['h2'] });
    const upstream = new Upstream(socket, 'app');
    this.#app = upstream;
    this.#wireUpstream(upstream, (reason) => this.#ctx.logger.warn({ app: `${app.host}:${app.port}`, reason }, 'app unreachable over HTTP/2'));
    return upstream;
  }

  /** The in-memory connection to the gateway, made at this connection's first stream that is not the app's. */
  #gatewaySide(): Upstream {
    if (this.#gatewayUpstream !== undefined && !this.#gatewayUpstream.draining) return this.#gatewayUpstream;
    const [ours, theirs] = memoryDuplexPair();
    const upstream = new Upstream(ours, 'gateway');
    this.#gatewayUpstream = upstream;
    this.#wireUpstream(upstream, (reason) => this.#ctx.logger.warn({ reason }, 'the agent lost its own HTTP/2 gateway connection'));
    this.#gateway.acceptRelayed(theirs, this.#decisions);
    return upstream;
  }

  #wireUpstream(upstream: Upstream, warn: (reason: string) => void): void {
    const reader = new FrameReader(this.#sink(upstream));
    let failure: string | undefined;
    upstream.socket.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      try {
        reader.push(chunk);
      } catch (err) {
        failure = (err as Error).message;
        this.#connectionError(upstream, err);
        return;
      }
      // The client's windows bound what we send it, but a client may grant 2^31-1 and not read: its socket's buffer bounds it too.
      if (this.#client.socket.writableNeedDrain) {
        upstream.socket.pause();
        this.#client.socket.once('drain', () => upstream.socket.resume());
      }
    });
    upstream.socket.on('error', (err: Error) => {
      failure ??= err.message;
    });
    upstream.socket.once('close', () => {
      this.#retireUpstream(upstream);
      if (this.#closed) return;
      const open = [...upstream.streams];
      if (open.length > 0) warn(failure ?? 'connection closed');
      for (const stream of open) this.#upstreamFailed(stream, H2_CANCEL);
    });
    upstream.socket.on('end', () => upstream.socket.end());
  }

  /** Takes no new streams; a new connection is made for the next. */
  #retireUpstream(upstream: Upstream): void {
    upstream.draining = true;
    if (this.#app === upstream) this.#app = undefined;
    if (this.#gatewayUpstream === upstream) this.#gatewayUpstream = undefined;
  }

  #endUpstreamIfIdle(upstream: Upstream): void {
    if (upstream.streams.size > 0 || upstream.socket.destroyed) return;
    upstream.writer.frame(FRAME_GOAWAY, 0, 0, goawayPayload(0, H2_NO_ERROR));
    upstream.writer.flush();
    upstream.socket.end();
  }

  /**
   * A connection error (RFC 9113 §5.4.1). From the client: GOAWAY with its code
   * and the connection ends. From an upstream: that connection ends, and its
   * streams are answered or reset; the client's connection goes on.
   */
  #connectionError(side: SideName, err: unknown): void {
    const code = err instanceof H2ConnectionError ? err.code : H2_INTERNAL_ERROR;
    const message = (err as Error).message;
    if (side === 'client') {
      this.#ctx.logger.debug({ err: message, code }, 'HTTP/2 client connection error');
      this.#goaway(code);
      this.#finish();
      return;
    }
    this.#ctx.logger.warn({ err: message, code, upstream: side.kind }, 'HTTP/2 protocol error from upstream');
    side.writer.frame(FRAME_GOAWAY, 0, 0, goawayPayload(0, code));
    side.writer.flush();
    side.socket.destroy();
  }

  #goaway(code: number): void {
    if (this.#goawayLastId !== undefined) return;
    this.#goawayLastId = this.#lastClientStreamId;
    this.#client.writer.frame(FRAME_GOAWAY, 0, 0, goawayPayload(this.#lastClientStreamId, code));
  }

  #clientEnded(): void {
    // A client that half-closed still gets the answers of its streams in flight.
    this.#goawayLastId ??= this.#lastClientStreamId;
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.#goawayLastId === undefined || this.#streams.size > 0 || this.#closed) return;
    this.#finish();
  }

  /** An idle client connection is closed as on HTTP/1.1; GOAWAY lets a stream racing it be retried elsewhere. */
  #armIdle(): void {
    if (this.#closed || this.#idleTimer !== undefined) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#streams.size > 0) return;
      this.#goaway(H2_NO_ERROR);
      this.#maybeFinish();
    }, this.#ctx.options.idleTimeoutMs).unref();
  }
}

/** A DATA or HEADERS payload without its padding (RFC 9113 §6.1). */
function unpadded(flags: number, payload: Buffer): Buffer {
  if ((flags & FLAG_PADDED) === 0) return payload;
  if (payload.length < 1) throw new H2ConnectionError(H2_FRAME_SIZE_ERROR, 'padded frame without its pad length');
  const pad = payload[0]!;
  if (pad >= payload.length) throw new H2ConnectionError(H2_PROTOCOL_ERROR, 'padding longer than the frame');
  return payload.subarray(1, payload.length - pad);
}
