/**
 * Every default in one place. Values without a unit are names or modes.
 */
export const DEFAULTS = Object.freeze({
  /** Headers carried from each inbound request to the outbound calls it causes. */
  headers: Object.freeze(['x-telepresence-id']) as readonly string[],
  /** Baggage key that mirrors the first header's value; '' turns mirroring off. */
  baggageKey: '',
  /** Hosts allowed to receive the headers besides the cluster-internal ones. */
  allowHosts: Object.freeze([]) as readonly string[],
  /** What a failed start-up self-check does: nothing, warn, or fail the process. */
  selfTest: 'warn' as const,
  /** Longest header value carried; longer values are ignored, not truncated. */
  maxValueBytes: 256,
  /** How long the start-up self-check may take before it counts as failed. */
  selfTestTimeoutMs: 3000,
});
