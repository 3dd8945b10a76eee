export { HpackDecoder, DEFAULT_HEADER_TABLE_BYTES } from './decoder.js';
export type { DecodedBlock } from './decoder.js';
export { encodeHeaderBlock, encodeHeaderRecord } from './encoder.js';
export { HpackError } from './hpack-error.js';
