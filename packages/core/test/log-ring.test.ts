import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, LogRing } from '../src/index.js';

/** A pino destination that keeps what it is given, like stderr would show it. */
function collector(): { write(line: string): void; lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (line: string) => void lines.push(line) };
}

test('the ring keeps the newest lines, bounded in count', () => {
  const ring = new LogRing({ maxLines: 3, maxBytes: 1024 });
  for (let i = 0; i < 10; i++) ring.write(`${i}\n`);
  assert.equal(ring.size, 3);
  assert.equal(ring.text(), '7\n8\n9\n');
});

test('the ring is bounded in bytes, and a line larger than the bound is not kept', () => {
  const ring = new LogRing({ maxLines: 100, maxBytes: 10 });
  ring.write('aaaa\n');
  ring.write('bbbb\n');
  ring.write('cccc\n');
  assert.equal(ring.text(), 'bbbb\ncccc\n');
  ring.write(`${'x'.repeat(20)}\n`);
  assert.equal(ring.text(), 'bbbb\ncccc\n');
  // Multi-byte characters count as their UTF-8 bytes: 5 + 9 bytes do not fit in 10 (5 + 5 characters would).
  ring.write('éééé\n');
  assert.equal(ring.text(), 'éééé\n');
});

test('the ring stays bounded over many compactions', () => {
  const ring = new LogRing({ maxLines: 5, maxBytes: 1024 });
  for (let i = 0; i < 1_003; i++) ring.write(`${i}\n`);
  assert.equal(ring.text(), '998\n999\n1000\n1001\n1002\n');
});

test('a logger with a ring writes the same redacted lines to its destination and to the ring', () => {
  const destination = collector();
  const ring = new LogRing();
  const logger = createLogger('test', { destination, ring, level: 'info' });
  logger.info({ token: 'secret-token', headers: { authorization: 'Bearer xyz', cookie: 'c=1' }, agentId: 'a1' }, 'hello');
  logger.debug('not at info');
  assert.equal(destination.lines.length, 1);
  assert.equal(ring.text(), destination.lines.join(''));
  assert.doesNotMatch(ring.text(), /secret-token|Bearer xyz|c=1/);
  const line = JSON.parse(ring.text()) as { msg: string; agentId: string; token: string };
  assert.equal(line.msg, 'hello');
  assert.equal(line.token, '[redacted]');
});

test("the logger's level decides for the ring too", () => {
  const destination = collector();
  const ring = new LogRing();
  const logger = createLogger('test', { destination, ring, level: 'debug' });
  logger.debug('now it shows');
  assert.equal(destination.lines.length, 1);
  assert.match(ring.text(), /now it shows/);
});

test('a quieter destination still gets only its own level; the ring keeps info lines for a bug report', () => {
  const destination = collector();
  const ring = new LogRing();
  const logger = createLogger('test', { destination, ring, level: 'warn' });
  logger.debug('never');
  logger.info('lifecycle');
  logger.warn('trouble');
  assert.deepEqual(
    destination.lines.map((line) => (JSON.parse(line) as { msg: string }).msg),
    ['trouble'],
  );
  assert.deepEqual(
    ring
      .text()
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { msg: string }).msg),
    ['lifecycle', 'trouble'],
  );
});

test('silent writes nothing to the destination; the ring still keeps info lines', () => {
  const destination = collector();
  const ring = new LogRing();
  createLogger('test', { destination, ring, level: 'silent' }).info('kept');
  assert.deepEqual(destination.lines, []);
  assert.match(ring.text(), /"msg":"kept"/);
});

test('an unknown level is refused as without a ring', () => {
  assert.throws(() => createLogger('test', { destination: collector(), ring: new LogRing(), level: 'loud' }), /loud/);
});
