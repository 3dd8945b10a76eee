export { MAX_HEADER_LIST_PAIRS, RELAY_HTTP2_SETTINGS, SESSION_WINDOW_BYTES, STREAM_WINDOW_BYTES, widenSessionWindow } from './http2-windows.js';
export { startKeepalive } from './keepalive.js';
export type { KeepaliveOptions } from './keepalive.js';
export { forwardableHeaders, forwardToPool, Http2StreamBridge, resetStream } from './stream-bridge.js';
export type { Http2BridgeOptions } from './stream-bridge.js';
export { Http2SessionPool } from './session-pool.js';
export type { Http2SessionPoolOptions } from './session-pool.js';
export { GRPC_STATUS, isGrpcRequest, percentEncodeGrpcMessage, respondLocalError, respondStreamError } from './stream-errors.js';
export type { LocalError } from './stream-errors.js';
export { dialSocket, spliceStream, spliceToTarget } from './splice.js';
export type { SocketTarget } from './splice.js';
export { startMetricsListener } from './metrics-listener.js';
export type { MetricsListener, MetricsListenerOptions, MetricsSource } from './metrics-listener.js';
export { connectToManager, isLoopbackHost, managerEndpoint, managerTlsFailure } from './manager-endpoint.js';
export type { EndpointFlagNames, ManagerEndpoint, ManagerEndpointOptions } from './manager-endpoint.js';
export { DEFAULT_HEADER_TABLE_BYTES, encodeHeaderBlock, encodeHeaderRecord, HpackDecoder, HpackError } from './hpack/index.js';
export type { DecodedBlock } from './hpack/index.js';
export {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_WINDOW_BYTES,
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
  MAX_WINDOW_BYTES,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  settingsPayload,
  uint32Payload,
} from './h2-frames.js';
export type { FrameSink } from './h2-frames.js';
export { memoryDuplexPair } from './memory-duplex.js';
