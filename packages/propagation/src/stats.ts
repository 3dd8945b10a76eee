/** Counts of header values, one per header per request or call. */
export interface PropagationStats {
  /** Values extracted from inbound requests. */
  readonly receivedHeaders: number;
  /** Values written onto outbound requests. */
  readonly propagatedHeaders: number;
  /** Values withheld because the destination host is not allowed. */
  readonly droppedHeaders: number;
  /** Values not written because the app set the header itself (its value wins, no duplicate). */
  readonly appSetHeaders: number;
}

/** The mutable counters behind `stats()`. */
export class StatsCounter {
  receivedHeaders = 0;
  propagatedHeaders = 0;
  droppedHeaders = 0;
  appSetHeaders = 0;

  snapshot(): PropagationStats {
    return Object.freeze({
      receivedHeaders: this.receivedHeaders,
      propagatedHeaders: this.propagatedHeaders,
      droppedHeaders: this.droppedHeaders,
      appSetHeaders: this.appSetHeaders,
    });
  }
}
