/**
 * A header block that cannot be decoded. In HTTP/2 this is a connection error
 * of type COMPRESSION_ERROR (RFC 9113 §4.3): the decoder's dynamic table may no
 * longer match the peer's encoder, so the connection must end. It never reaches
 * a user as such, which is why it has no DETOUR_ERR_* code of its own.
 */
export class HpackError extends Error {
  override readonly name = 'HpackError';
}
