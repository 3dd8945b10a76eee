import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogsRequestLineSchema } from '@detour/protocol';
import { LogRing } from '@detour/core';
import { AgentHub } from '../src/agent-hub.js';
import { LogCollection } from '../src/log-collection.js';
import { ManagerState } from '../src/state.js';

// The collection's logic on a real hub and state; the agents are their watch
// sinks only (what the hub writes to), answering the way an agent's link does.

function setup(agentDeadlineMs: number) {
  const state = new ManagerState({ leaseMs: 15_000, globalAllowed: true });
  const hub = new AgentHub(state);
  const requests = new Map<string, string[]>();
  for (const [agentId, service] of [
    ['web-1', 'web'],
    ['web-2', 'web'],
    ['api-1', 'api'],
  ] as const) {
    state.addAgent({ id: agentId, service, listen: '127.0.0.1:1', protocol: 'auto' });
    const ids: string[] = [];
    requests.set(agentId, ids);
    hub.attach(agentId, service, {
      write: (line) => {
        const parsed = LogsRequestLineSchema.safeParse(JSON.parse(line));
        if (parsed.success) ids.push(parsed.data.logsRequest.id);
      },
    });
  }
  const ring = new LogRing();
  ring.write('{"msg":"manager line"}\n');
  return { hub, requests, logs: new LogCollection({ ring, agentDeadlineMs }) };
}

test('every agent answers: all logs, nothing missing, without waiting for the deadline', async () => {
  const { hub, requests, logs } = setup(60_000);
  const collecting = logs.collectAgents(hub);
  for (const [agentId, ids] of requests) {
    assert.equal(ids.length, 1, `${agentId} was asked once`);
    logs.record(ids[0]!, agentId, `{"msg":"${agentId} line"}\n`);
  }
  const { agents, missing } = await collecting;
  assert.deepEqual(missing, []);
  assert.deepEqual(agents.map((a) => [a.agentId, a.service, a.log]).sort(), [
    ['api-1', 'api', '{"msg":"api-1 line"}\n'],
    ['web-1', 'web', '{"msg":"web-1 line"}\n'],
    ['web-2', 'web', '{"msg":"web-2 line"}\n'],
  ]);
  assert.equal(logs.managerLog(), '{"msg":"manager line"}\n');
});

test('a silent agent is missing after the deadline, and its late answer is refused', async () => {
  const { hub, requests, logs } = setup(50);
  const collecting = logs.collectAgents(hub);
  const id = requests.get('web-1')![0]!;
  logs.record(id, 'web-1', 'a\n');
  logs.record(requests.get('api-1')![0]!, 'api-1', 'b\n');
  const { agents, missing } = await collecting;
  assert.deepEqual(agents.map((a) => a.agentId).sort(), ['api-1', 'web-1']);
  assert.deepEqual(missing, [{ agentId: 'web-2', service: 'web', reason: 'no answer within 50 ms' }]);
  assert.throws(() => logs.record(requests.get('web-2')![0]!, 'web-2', 'late\n'), { code: 'DETOUR_ERR_LOGS_NOT_FOUND' });
});

test('an answer for an agent the collection did not ask is refused', async () => {
  const { hub, requests, logs } = setup(50);
  const collecting = logs.collectAgents(hub);
  assert.throws(() => logs.record(requests.get('web-1')![0]!, 'someone-else', 'x\n'), { code: 'DETOUR_ERR_LOGS_NOT_FOUND' });
  await collecting;
});

test('no agents: answers at once', async () => {
  const state = new ManagerState({ leaseMs: 15_000, globalAllowed: true });
  const startedAt = Date.now();
  const { agents, missing } = await new LogCollection({ agentDeadlineMs: 60_000 }).collectAgents(new AgentHub(state));
  assert.deepEqual([agents, missing], [[], []]);
  assert.ok(Date.now() - startedAt < 10_000);
  assert.equal(new LogCollection().managerLog(), '');
});
