import type { IncomingHttpHeaders } from 'node:http2';
import type { Intercept } from '@detour/protocol';

/**
 * Set on a request towards the laptop when it cannot fall through (its body is
 * over the intercept's `bodyLimitBytes`, or of unknown length on HTTP/1.1): the
 * laptop's answer is the caller's whatever its status. The developer's local
 * app sees it, and their dashboard labels the request by it; routing never
 * reads it, so a caller sending one changes no decision.
 */
export const FALLTHROUGH_HEADER = 'detour-fallthrough';

/** gRPC's UNIMPLEMENTED (grpc/doc/statuscodes.md): what a server answers for a method it lacks. */
const GRPC_UNIMPLEMENTED = '12';

/** What the agent needs of `--fallthrough-status`, compiled once per Intercept object. */
export interface FallthroughPlan {
  readonly statuses: ReadonlySet<number>;
  readonly bodyLimitBytes: number;
}

const plans = new WeakMap<Intercept, FallthroughPlan>();

/** The plan of an intercept with `--fallthrough-status`, undefined for any other. */
export function fallthroughPlan(intercept: Intercept): FallthroughPlan | undefined {
  const spec = intercept.fallthrough;
  if (spec === undefined) return undefined;
  let plan = plans.get(intercept);
  if (plan === undefined) {
    plan = { statuses: new Set(spec.statuses), bodyLimitBytes: spec.bodyLimitBytes };
    plans.set(intercept, plan);
  }
  return plan;
}

/** The value of {@link FALLTHROUGH_HEADER} for a request whose body cannot be kept for a replay. */
export function ineligibleNote(plan: FallthroughPlan, why: 'over-limit' | 'unknown-length'): string {
  return why === 'over-limit' ? `off; request body over ${plan.bodyLimitBytes} bytes` : 'off; request body of unknown length (chunked)';
}

/**
 * Whether an HTTP/2 response head from the laptop sends the request to the app:
 * its `:status` is listed, or, for gRPC, it is trailers-only (`ended`) with
 * `grpc-status` UNIMPLEMENTED while 501 (Not Implemented) is listed.
 */
export function h2FallsThrough(plan: FallthroughPlan, headers: IncomingHttpHeaders, ended: boolean): boolean {
  if (plan.statuses.has(Number(headers[':status']))) return true;
  return ended && plan.statuses.has(501) && headers['grpc-status'] === GRPC_UNIMPLEMENTED;
}

/** A request body kept for a replay while it is within the bound; `overLimit` once it is not (the copy is dropped). */
export class BodyCopy {
  readonly #limit: number;
  #chunks: Buffer[] | undefined = [];
  #bytes = 0;

  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  get overLimit(): boolean {
    return this.#chunks === undefined;
  }

  /** Keeps a copy of `bytes` (the caller's buffer may be reused). */
  add(bytes: Buffer): void {
    if (this.#chunks === undefined) return;
    this.#bytes += bytes.length;
    if (this.#bytes > this.#limit) this.#chunks = undefined;
    else this.#chunks.push(Buffer.from(bytes));
  }

  /** The whole body; only while not over the limit. */
  body(): Buffer {
    return Buffer.concat(this.#chunks ?? []);
  }
}
