import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Environment } from './support/environment.js';
import { grpc, streamStatus } from './support/grpc-client.js';
import { InteropApp, InteropClient, collect } from './support/interop-client.js';
import type { Payload, StreamingOutputCallResponse } from './support/interop-client.js';

// Issue 15: the agent's h2c relay stays correct for a real gRPC client and server. The standard
// interop cases (grpc doc/interop-test-descriptions.md) run with @grpc/grpc-js against the standard
// interop service (support/interop-app.mjs), each one twice over one client connection to the agent:
// - unmatched: no intercept header, so the agent relays the call to the in-cluster app;
// - matched: with alice's intercept header, so the call goes through the manager and her daemon to
//   the interop server on her laptop.
// Which app answered is asserted, from both ends: the `x-served-by` trailer the client receives, and
// the start and end of the call that the expected app (and not the other one) reports.

const LARGE_REQUEST_BYTES = 271_828;
const LARGE_RESPONSE_BYTES = 314_159;
const STREAM_REQUEST_BYTES = [27_182, 8, 1_828, 45_904];
const STREAM_RESPONSE_BYTES = [31_415, 9, 2_653, 58_979];
const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';
const TEST_STATUS = { code: grpc.status.UNKNOWN, message: 'test status message' };
const SPECIAL_STATUS = { code: grpc.status.UNKNOWN, message: '\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n' };

type Path = 'unmatched' | 'matched';
/** For a call the client gave up on: the server must see it end, and what its handler then answered is dropped. */
const ENDED = 'ended';

/** What a case needs: the client, fresh metadata for its calls, and the app that must answer them. */
interface CaseContext {
  /** The case and path, e.g. `empty_unary (matched)`: the `x-interop-case` metadata of its calls. */
  tag: string;
  client: InteropClient;
  /** Metadata naming the case (so each app's report can be told apart) and, when matched, the intercept header. */
  metadata(): grpc.Metadata;
  /**
   * Waits until the expected app reports `statuses.length` ended calls of this case, asserts that its
   * handlers answered them with these statuses (`ENDED`: whatever it answered, for a call the client
   * cancelled) and that the other app saw nothing of the case.
   */
  expectServed(statuses: (number | typeof ENDED)[]): Promise<void>;
  /** The app that must answer; the trailers of a status it sent name it. */
  served: InteropApp;
  other: InteropApp;
}

const zeros = (bytes: number): Payload => ({ body: Buffer.alloc(bytes) });

function assertZeros(payload: Payload | null | undefined, bytes: number): void {
  assert.ok(payload !== null && payload !== undefined, 'a payload');
  assert.equal(payload.body.length, bytes);
  assert.ok(payload.body.equals(Buffer.alloc(bytes)), 'a payload of zeros');
}

function assertStatus(status: grpc.StatusObject, code: grpc.status, ctx: CaseContext, details?: string): void {
  assert.equal(status.code, code, `status ${status.code} (${status.details})`);
  if (details !== undefined) assert.equal(status.details, details);
  assert.deepEqual(status.metadata.get('x-served-by'), [ctx.served.name]);
}

const bodySizes = (messages: StreamingOutputCallResponse[]) => messages.map((m) => m.payload?.body.length);

const CASES: Record<string, (ctx: CaseContext) => Promise<void>> = {
  async empty_unary(ctx) {
    const { response, status } = await ctx.client.emptyCall(ctx.metadata());
    assertStatus(status, grpc.status.OK, ctx);
    assert.deepEqual(response, {});
    await ctx.expectServed([grpc.status.OK]);
  },

  async large_unary(ctx) {
    const { response, status } = await ctx.client.unaryCall(
      { responseSize: LARGE_RESPONSE_BYTES, payload: zeros(LARGE_REQUEST_BYTES) },
      ctx.metadata(),
    );
    assertStatus(status, grpc.status.OK, ctx);
    assertZeros(response?.payload, LARGE_RESPONSE_BYTES);
    await ctx.expectServed([grpc.status.OK]);
  },

  async client_streaming(ctx) {
    const { call, outcome } = ctx.client.streamingInputCall(ctx.metadata());
    for (const bytes of STREAM_REQUEST_BYTES) call.write({ payload: zeros(bytes) });
    call.end();
    const { response, status } = await outcome;
    assertStatus(status, grpc.status.OK, ctx);
    assert.equal(response?.aggregatedPayloadSize, 74_922);
    await ctx.expectServed([grpc.status.OK]);
  },

  async server_streaming(ctx) {
    const call = ctx.client.streamingOutputCall({ responseParameters: STREAM_RESPONSE_BYTES.map((size) => ({ size })) }, ctx.metadata());
    const { messages, status } = await collect(call);
    assertStatus(status, grpc.status.OK, ctx);
    assert.deepEqual(bodySizes(messages), STREAM_RESPONSE_BYTES);
    messages.forEach((m, i) => assertZeros(m.payload, STREAM_RESPONSE_BYTES[i]!));
    await ctx.expectServed([grpc.status.OK]);
  },

  async ping_pong(ctx) {
    const call = ctx.client.fullDuplexCall(ctx.metadata());
    const status = streamStatus(call);
    const replies = call[Symbol.asyncIterator]() as AsyncIterator<StreamingOutputCallResponse>;
    for (const [i, bytes] of STREAM_RESPONSE_BYTES.entries()) {
      call.write({ responseParameters: [{ size: bytes }], payload: zeros(STREAM_REQUEST_BYTES[i]!) });
      const reply = await replies.next();
      assert.equal(reply.done, false, `reply ${i}`);
      assertZeros((reply.value as StreamingOutputCallResponse).payload, bytes);
    }
    call.end();
    assert.equal((await replies.next()).done, true, 'exactly four responses');
    assertStatus(await status, grpc.status.OK, ctx);
    await ctx.expectServed([grpc.status.OK]);
  },

  async empty_stream(ctx) {
    const call = ctx.client.fullDuplexCall(ctx.metadata());
    call.end();
    const { messages, status } = await collect(call);
    assertStatus(status, grpc.status.OK, ctx);
    assert.deepEqual(messages, []);
    await ctx.expectServed([grpc.status.OK]);
  },

  async status_code_and_message(ctx) {
    const unary = await ctx.client.unaryCall({ responseStatus: TEST_STATUS }, ctx.metadata());
    assertStatus(unary.status, TEST_STATUS.code, ctx, TEST_STATUS.message);
    const call = ctx.client.fullDuplexCall(ctx.metadata());
    call.write({ responseStatus: TEST_STATUS });
    call.end();
    const duplex = await collect(call);
    assertStatus(duplex.status, TEST_STATUS.code, ctx, TEST_STATUS.message);
    await ctx.expectServed([TEST_STATUS.code, TEST_STATUS.code]);
  },

  async special_status_message(ctx) {
    const { status } = await ctx.client.unaryCall({ responseStatus: SPECIAL_STATUS }, ctx.metadata());
    assertStatus(status, SPECIAL_STATUS.code, ctx, SPECIAL_STATUS.message);
    await ctx.expectServed([SPECIAL_STATUS.code]);
  },

  async custom_metadata(ctx) {
    const trailingValue = Buffer.from([0xab, 0xab, 0xab]);
    const metadata = () => {
      const m = ctx.metadata();
      m.set(ECHO_INITIAL, 'test_initial_metadata_value');
      m.set(ECHO_TRAILING, trailingValue);
      return m;
    };
    const assertEchoed = (initial: grpc.Metadata | undefined, status: grpc.StatusObject) => {
      assert.deepEqual(initial?.get(ECHO_INITIAL), ['test_initial_metadata_value']);
      assert.deepEqual(status.metadata.get(ECHO_TRAILING), [trailingValue]);
    };
    const unary = await ctx.client.unaryCall({ responseSize: LARGE_RESPONSE_BYTES, payload: zeros(LARGE_REQUEST_BYTES) }, metadata());
    assertStatus(unary.status, grpc.status.OK, ctx);
    assertZeros(unary.response?.payload, LARGE_RESPONSE_BYTES);
    assertEchoed(unary.initialMetadata, unary.status);
    const call = ctx.client.fullDuplexCall(metadata());
    call.write({ responseParameters: [{ size: LARGE_RESPONSE_BYTES }], payload: zeros(LARGE_REQUEST_BYTES) });
    call.end();
    const duplex = await collect(call);
    assertStatus(duplex.status, grpc.status.OK, ctx);
    assert.deepEqual(bodySizes(duplex.messages), [LARGE_RESPONSE_BYTES]);
    assertEchoed(duplex.initialMetadata, duplex.status);
    await ctx.expectServed([grpc.status.OK, grpc.status.OK]);
  },

  async timeout_on_sleeping_server(ctx) {
    // As described: a 1 ms timeout. It mostly expires inside the client before a byte leaves it, so
    // which app saw it (if any) is not asserted, only that the other one did not.
    const call = ctx.client.fullDuplexCall(ctx.metadata(), { deadline: Date.now() + 1 });
    call.write({ payload: zeros(27_182) });
    const { status } = await collect(call);
    assert.equal(status.code, grpc.status.DEADLINE_EXCEEDED, `status ${status.code} (${status.details})`);
    // So the relay is tested too: the same call with a timeout it can beat. The sleeping server gets
    // the call (grpc-timeout and all), the client gives up at the deadline, and the server's call ends.
    const slept = ctx.metadata();
    slept.set('x-interop-case', `${ctx.tag} reached`);
    const reached = ctx.client.fullDuplexCall(slept, { deadline: Date.now() + 2_000 });
    reached.write({ payload: zeros(27_182) });
    const reachedOutcome = collect(reached);
    await ctx.served.waitFor(`${ctx.tag} reached`, 'start', 1);
    assert.equal((await reachedOutcome).status.code, grpc.status.DEADLINE_EXCEEDED);
    await ctx.served.waitFor(`${ctx.tag} reached`, 'end', 1);
    assert.deepEqual(ctx.other.records(`${ctx.tag} reached`), []);
    assert.deepEqual(ctx.other.records(ctx.tag), []);
  },

  async cancel_after_begin(ctx) {
    const { call, outcome } = ctx.client.streamingInputCall(ctx.metadata());
    // "After metadata has been sent but before payloads are sent": cancel once the server has the call.
    await ctx.served.waitFor(ctx.tag, 'start', 1);
    call.cancel();
    const { status } = await outcome;
    assert.equal(status.code, grpc.status.CANCELLED);
    await ctx.expectServed([ENDED]);
  },

  async cancel_after_first_response(ctx) {
    const call = ctx.client.fullDuplexCall(ctx.metadata());
    const status = streamStatus(call);
    const replies = call[Symbol.asyncIterator]() as AsyncIterator<StreamingOutputCallResponse>;
    call.write({ responseParameters: [{ size: 31_415 }], payload: zeros(27_182) });
    const first = await replies.next();
    assertZeros((first.value as StreamingOutputCallResponse).payload, 31_415);
    call.cancel();
    assert.equal((await status).code, grpc.status.CANCELLED);
    await ctx.expectServed([ENDED]);
  },

  async unimplemented_method(ctx) {
    const { status } = await ctx.client.emptyCall(ctx.metadata(), 'UnimplementedCall');
    assertStatus(status, grpc.status.UNIMPLEMENTED, ctx);
    await ctx.expectServed([grpc.status.UNIMPLEMENTED]);
  },
};

test('gRPC interop cases through the agent, unmatched and matched (issue 15)', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const [cluster, laptop] = await Promise.all([InteropApp.start('cluster'), InteropApp.start('alice-laptop')]);
  t.after(() => Promise.all([cluster.stop(), laptop.stop()]));
  const [agent, alice] = await Promise.all([env.agent('interop', cluster.url), env.developer('alice')]);
  const intercepted = await alice.cli(['intercept', 'interop', '--port', laptop.port, '--output', 'json']);
  assert.equal(intercepted.code, 0, intercepted.stderr);
  const header = (JSON.parse(intercepted.stdout) as { header: string }).header;
  const at = header.indexOf('=');
  const [headerName, headerValue] = [header.slice(0, at), header.slice(at + 1)];

  // One channel: every call of every case is a stream on the same HTTP/2 connection to the agent.
  const client = new InteropClient(new URL(agent.url).host);
  t.after(() => client.close());

  for (const path of ['unmatched', 'matched'] satisfies Path[]) {
    for (const [name, run] of Object.entries(CASES)) {
      const tag = `${name} (${path})`;
      await t.test(`interop ${tag}`, { timeout: 20_000 }, async () => {
        const [served, other] = path === 'matched' ? [laptop, cluster] : [cluster, laptop];
        const ctx: CaseContext = {
          tag,
          client,
          served,
          other,
          metadata: () => {
            const metadata = new grpc.Metadata();
            metadata.set('x-interop-case', tag);
            if (path === 'matched') metadata.set(headerName, headerValue);
            return metadata;
          },
          expectServed: async (statuses) => {
            const ends = await served.waitFor(tag, 'end', statuses.length);
            assert.deepEqual(
              ends.map((r) => r.status),
              statuses.map((status, i) => (status === ENDED ? ends[i]!.status : status)),
            );
            assert.deepEqual(other.records(tag), [], `${other.name} must see nothing of ${tag}`);
          },
        };
        await run(ctx);
      });
    }
  }
});
