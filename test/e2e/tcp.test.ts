import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { Environment } from './support/environment.js';
import { eventually, stopProcess } from './support/processes.js';

/**
 * One TCP conversation: the app's greeting (its name), then `lines` echoed
 * back, then our FIN and the app's. Returns who answered and what came back.
 */
async function converse(port: number, lines: string[]): Promise<{ greeting: string; echoed: string[] }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const reader = createInterface({ input: socket });
  const received: string[] = [];
  reader.on('line', (line) => received.push(line));
  await once(socket, 'connect');
  for (const line of lines) socket.write(`${line}\n`);
  // Half-close: the echo must still come back after our FIN (RFC 9113 §8.5 carries it as END_STREAM).
  socket.end();
  await once(reader, 'close');
  return { greeting: received[0] ?? '', echoed: received.slice(1) };
}

test('raw TCP: a global --mechanism tcp intercept tunnels whole connections, then falls back to the app', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const app = await env.tcpApp('db');
  const agent = await env.agent('db', `http://127.0.0.1:${app.port}`, ['--protocol', 'tcp']);
  const agentPort = Number(new URL(agent.url).port);
  const alice = await env.developer('alice');
  const laptop = await env.tcpApp('alice-laptop-db');

  // Before any intercept every connection goes to the app.
  assert.deepEqual(await converse(agentPort, ['before']), { greeting: 'db', echoed: ['before'] });

  const intercepted = await alice.cli(['intercept', 'db', '--port', String(laptop.port), '--global', '--mechanism', 'tcp', '--output', 'json']);
  assert.equal(intercepted.code, 0, intercepted.stderr);
  const big = 'x'.repeat(200_000);
  const [one, two] = await Promise.all([converse(agentPort, ['hello', 'world']), converse(agentPort, [big])]);
  assert.deepEqual(one, { greeting: 'alice-laptop-db', echoed: ['hello', 'world'] });
  assert.deepEqual(two, { greeting: 'alice-laptop-db', echoed: [big] });

  // The developer leaves: connections go to the app again.
  const left = await alice.cli(['leave', 'db']);
  assert.equal(left.code, 0, left.stderr);
  assert.deepEqual(await converse(agentPort, ['after']), { greeting: 'db', echoed: ['after'] });

  // Intercepting again, then the laptop vanishes (daemon killed): `fallback` sends connections to the app.
  assert.equal((await alice.cli(['intercept', 'db', '--port', String(laptop.port), '--global', '--mechanism', 'tcp'])).code, 0);
  assert.equal((await converse(agentPort, ['again'])).greeting, 'alice-laptop-db');
  process.kill(await alice.daemonPid(), 'SIGKILL');
  await eventually('connections fall back to the app', async () => ((await converse(agentPort, ['offline'])).greeting === 'db' ? true : undefined));
  await stopProcess(laptop.child);
});

test('raw TCP: intercepts that cannot work on the port are refused with one line and exit 2', { timeout: 60_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const app = await env.tcpApp('db');
  await env.agent('db', `http://127.0.0.1:${app.port}`, ['--protocol', 'tcp']);
  await env.service('api');
  const alice = await env.developer('alice');
  const port = String(alice.localPort);

  const cases: [string[], RegExp][] = [
    [['intercept', 'db', '--port', port, '--http-header', 'x-dev=alice'], /db is a raw TCP service: it has no headers or paths to match; use --global --mechanism tcp/],
    [['intercept', 'db', '--port', port], /db is a raw TCP service/],
    [['intercept', 'db', '--port', port, '--global'], /db is a raw TCP service/],
    [['intercept', 'api', '--port', port, '--global', '--mechanism', 'tcp'], /api speaks HTTP \(its agents do not run with --protocol tcp\); drop --mechanism tcp/],
    [['intercept', 'db', '--port', port, '--mechanism', 'tcp'], /--mechanism tcp tunnels whole connections of a raw TCP port, so it needs --global/],
  ];
  for (const [args, message] of cases) {
    const result = await alice.cli(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
});
