/** The HPACK static table, RFC 7541 Appendix A: name, value for indexes 1..61. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Indexes 1..61 are static; the dynamic table starts at 62 (RFC 7541 §2.3.3). */
export const STATIC_TABLE_LENGTH = STATIC_TABLE.length;

/** Per name: the first index with that name, and the index of each (name, value) pair. */
export interface StaticName {
  readonly nameIndex: number;
  readonly valueIndexes: ReadonlyMap<string, number>;
}

/** The static table by name, for the encoder. */
export const STATIC_BY_NAME: ReadonlyMap<string, StaticName> = (() => {
  const byName = new Map<string, { nameIndex: number; valueIndexes: Map<string, number> }>();
  STATIC_TABLE.forEach(([name, value], i) => {
    let entry = byName.get(name);
    if (entry === undefined) byName.set(name, (entry = { nameIndex: i + 1, valueIndexes: new Map() }));
    entry.valueIndexes.set(value, i + 1);
  });
  return byName;
})();
