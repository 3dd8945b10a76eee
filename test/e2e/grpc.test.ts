import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Environment } from './support/environment.js';
import { EchoClient, grpc, metadataOf, nextMessage, startGrpcApp, streamStatus } from './support/grpc-client.js';
import type { Msg } from './support/grpc-client.js';
import { eventually, rssGrowthDuring, stopProcess } from './support/processes.js';

/** The large stream: 1 GiB as the issue asks with E2E_GRPC_1GB=1; 256 MiB by default, to keep CI time sane. */
const LARGE_STREAM_BYTES = process.env.E2E_GRPC_1GB === '1' ? 1024 * 1024 * 1024 : 256 * 1024 * 1024;
/** A process relaying the stream must not grow by more than this: nothing may hold the stream whole. */
const MAX_RSS_GROWTH_BYTES = 80 * 1024 * 1024;

async function chatOnce(chat: ReturnType<EchoClient['chat']>, text: string): Promise<Msg> {
  const reply = nextMessage(chat);
  chat.write({ text });
  return reply;
}

test('gRPC on an auto agent port: two developers and header-less callers share one client connection', { timeout: 180_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const cluster = await startGrpcApp('cluster');
  const aliceApp = await startGrpcApp('alice-laptop');
  const bobApp = await startGrpcApp('bob-laptop');
  t.after(() => Promise.all([cluster, aliceApp, bobApp].map((app) => stopProcess(app.child))));
  const agent = await env.agent('greeter', cluster.value);
  const [alice, bob] = await Promise.all([env.developer('alice'), env.developer('bob')]);
  const intercept = async (dev: typeof alice, port: string, extra: string[]) => {
    const result = await dev.cli(['intercept', 'greeter', '--port', port, '--output', 'json', ...extra]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as { name: string; header: string };
  };
  const aliceIntercept = await intercept(alice, new URL(aliceApp.value).port, []);
  const bobIntercept = await intercept(bob, new URL(bobApp.value).port, ['--on-disconnect', 'fail']);
  const asAlice = () => metadataOf(aliceIntercept.header);
  const asBob = () => metadataOf(bobIntercept.header);

  // One channel: every call below is a stream on the same HTTP/2 connection to the agent.
  const client = new EchoClient(new URL(agent.url).host);
  t.after(() => client.close());

  await t.test('unary calls are routed per stream by metadata', async () => {
    const [plain, a, b] = await Promise.all([client.unary('hi'), client.unary('hi', asAlice()), client.unary('hi', asBob())]);
    assert.equal(plain.reply?.servedBy, 'cluster');
    assert.equal(a.reply?.servedBy, 'alice-laptop');
    assert.equal(a.reply?.id, aliceIntercept.header.split('=')[1]);
    assert.equal(b.reply?.servedBy, 'bob-laptop');
  });

  await t.test('a non-OK status, its message and trailing metadata arrive intact, matched and unmatched', async () => {
    for (const [metadata, servedBy] of [
      [undefined, 'cluster'],
      [asAlice(), 'alice-laptop'],
    ] as const) {
      const { error } = await client.unary('fail', metadata);
      assert.ok(error !== undefined);
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(error.details, `refused by ${servedBy}: 100% invalid`);
      assert.deepEqual(error.metadata.get('x-detail'), [`from ${servedBy}`]);
    }
  });

  await t.test('bidi streams of both developers and a header-less one interleave on one connection', async () => {
    const chats = [client.chat(), client.chat(asAlice()), client.chat(asBob())];
    const expected = ['cluster', 'alice-laptop', 'bob-laptop'];
    for (let round = 0; round < 3; round++) {
      const replies = await Promise.all(chats.map((chat, i) => chatOnce(chat, `m${round}-${i}`)));
      assert.deepEqual(
        replies.map((r) => [r.text, r.servedBy]),
        expected.map((name, i) => [`m${round}-${i}`, name]),
      );
    }
    const statuses = chats.map((chat) => streamStatus(chat));
    chats.forEach((chat) => chat.end());
    assert.deepEqual((await Promise.all(statuses)).map((s) => s.code), [grpc.status.OK, grpc.status.OK, grpc.status.OK]);
  });

  await t.test('client cancellation and deadlines reach the server that holds the stream', async () => {
    const local = { cluster: new EchoClient(new URL(cluster.value).host), alice: new EchoClient(new URL(aliceApp.value).host) };
    t.after(() => Object.values(local).forEach((c) => c.close()));
    const before = { cluster: await local.cluster.stats(), alice: await local.alice.stats() };
    const held = [client.hold(), client.hold(asAlice())];
    assert.deepEqual((await Promise.all(held.map((h) => nextMessage(h)))).map((m) => m.servedBy), ['cluster', 'alice-laptop']);
    const statuses = held.map((h) => streamStatus(h));
    held.forEach((h) => h.cancel());
    assert.deepEqual((await Promise.all(statuses)).map((s) => s.code), [grpc.status.CANCELLED, grpc.status.CANCELLED]);
    await eventually('both servers saw the cancellation', async () =>
      (await local.cluster.stats()) === before.cluster + 1 && (await local.alice.stats()) === before.alice + 1 ? true : undefined,
    );
    // A deadline: the client gives up and resets the stream; the developer's server sees it end.
    const timed = client.hold(asAlice(), { deadline: Date.now() + 1_500 });
    timed.on('data', () => undefined);
    assert.equal((await streamStatus(timed)).code, grpc.status.DEADLINE_EXCEEDED);
    await eventually('alice saw the deadline cancel her stream', async () => ((await local.alice.stats()) === before.alice + 2 ? true : undefined));
  });

  await t.test('a dead developer does not disturb the other streams; a fail-policy intercept answers UNAVAILABLE', async (st) => {
    const chats = { plain: client.chat(), alice: client.chat(asAlice()), bob: client.chat(asBob()) };
    assert.equal((await chatOnce(chats.bob, 'before')).servedBy, 'bob-laptop');
    const bobEnded = streamStatus(chats.bob);
    process.kill(await bob.daemonPid(), 'SIGKILL');
    const ended = await bobEnded;
    assert.notEqual(ended.code, grpc.status.OK, `bob's stream must end with an error once his daemon is gone (got ${ended.code} ${ended.details})`);
    st.diagnostic(`bob's open stream ended with status ${ended.code} (${ended.details})`);
    // The neighbours on the same client connection keep working.
    assert.equal((await chatOnce(chats.plain, 'after')).servedBy, 'cluster');
    assert.equal((await chatOnce(chats.alice, 'after')).servedBy, 'alice-laptop');
    const unavailable = await eventually('bob is seen offline', async () => {
      const { error } = await client.unary('hi', asBob());
      return error?.code === grpc.status.UNAVAILABLE && /offline/.test(error.details) ? error : undefined;
    });
    assert.match(unavailable.details, new RegExp(`intercept ${bobIntercept.name} on greeter is offline`));
    assert.equal((await client.unary('still', asAlice())).reply?.servedBy, 'alice-laptop');
    assert.equal((await client.unary('still')).reply?.servedBy, 'cluster');
    const statuses = [streamStatus(chats.plain), streamStatus(chats.alice)];
    chats.plain.end();
    chats.alice.end();
    assert.deepEqual((await Promise.all(statuses)).map((s) => s.code), [grpc.status.OK, grpc.status.OK]);
  });

  await t.test(`a ${LARGE_STREAM_BYTES} byte server stream to a developer keeps agent and daemon memory bounded`, async (st) => {
    const agentPid = agent.child.pid!;
    const daemonPid = await alice.daemonPid();
    let received = 0;
    const { growth } = await rssGrowthDuring([agentPid, daemonPid], async () => {
      const download = client.download(LARGE_STREAM_BYTES, 1024 * 1024, asAlice());
      const status = streamStatus(download);
      for await (const chunk of download) received += (chunk as { data: Buffer }).data.length;
      assert.equal((await status).code, grpc.status.OK);
    });
    assert.equal(received, LARGE_STREAM_BYTES);
    st.diagnostic(`RSS growth: agent ${(growth[0]! / 2 ** 20).toFixed(1)} MiB, daemon ${(growth[1]! / 2 ** 20).toFixed(1)} MiB`);
    assert.ok(growth[0]! < MAX_RSS_GROWTH_BYTES, `agent grew by ${growth[0]!} bytes`);
    assert.ok(growth[1]! < MAX_RSS_GROWTH_BYTES, `daemon grew by ${growth[1]!} bytes`);
  });
});
