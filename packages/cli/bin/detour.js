#!/usr/bin/env node
// First, on its own: loading main.js already grows V8's young generation, which the agent keeps small.
import { sizeYoungGeneration } from '../dist/src/young-generation.js';

sizeYoungGeneration(process.argv.slice(2), process.execArgv, process.env.NODE_OPTIONS);
const { main } = await import('../dist/src/main.js');

const stop = new AbortController();
const onSignal = () => stop.abort();
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const outcome = await main(process.argv.slice(2), { in: process.stdin, out: process.stdout, err: process.stderr, env: process.env, onReload: (listener) => process.on('SIGHUP', listener) }, stop.signal);
if (outcome.signal !== undefined) {
  // The command run by `intercept -- CMD` died of a signal: die of the same one.
  process.removeAllListeners(outcome.signal);
  process.kill(process.pid, outcome.signal);
} else {
  process.exitCode = outcome.code;
}
