/**
 * Renders one result object (the content of latest.json) as terminal text and
 * as Markdown. Both come from the same section list, so they never disagree.
 */

const fmt = {
  int: (x) => (x == null ? '—' : Math.round(x).toLocaleString('en-US')),
  ms: (x) => (x == null ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(1)),
  x: (x) => (x == null ? '—' : `${x.toFixed(2)}×`),
  mib: (x) => (x == null ? '—' : x.toFixed(1)),
  pct: (x) => (x == null ? '—' : `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`),
};

function mainTable(r) {
  const rows = Object.entries(r.paths).map(([id, p]) => {
    const q = r.ratios[id];
    return [id, fmt.int(p.small.rps), fmt.x(q.rpsVsNginx), fmt.x(q.rpsVsDirect), fmt.ms(p.small.p50Ms), fmt.ms(p.small.p99Ms), fmt.x(q.p99VsNginx),
      fmt.mib(p['1m'].mibPerS), fmt.x(q.mibVsNginx), fmt.x(q.mibVsDirect), String(p.small.errors + p['1m'].errors)];
  });
  return {
    title: `Small responses and 1 MiB bodies (median of ${r.meta.runs} interleaved run${r.meta.runs > 1 ? 's' : ''} of ${r.meta.durationS} s each)`,
    headers: ['Path', 'req/s', '×nginx', '×direct', 'p50 ms', 'p99 ms', 'p99 ×nginx', '1 MiB: MiB/s', '×nginx', '×direct', 'errors'],
    rows,
  };
}

/** The preview gateway beside a direct request to its entry (the agent, with the header): same route, one hop more. */
function previewTable(r) {
  const q = r.ratios['detour-preview'];
  const p = r.paths['detour-preview'];
  const entry = r.paths['detour-matched'];
  return {
    title: 'Preview gateway overhead (issue 12): through the gateway vs the same request straight to the entry with the header',
    headers: ['Path', 'req/s', 'p99 ms', '1 MiB: MiB/s'],
    rows: [
      ['detour-matched (entry, header sent)', fmt.int(entry?.small.rps), fmt.ms(entry?.small.p99Ms), fmt.mib(entry?.['1m'].mibPerS)],
      ['detour-preview (gateway, Host <id>.preview.localhost)', fmt.int(p.small.rps), fmt.ms(p.small.p99Ms), fmt.mib(p['1m'].mibPerS)],
      ['ratio preview / entry', fmt.x(q.rpsVsEntry), fmt.x(q.p99VsEntry), fmt.x(q.mibVsEntry)],
    ],
  };
}

function scalingTable(s, title = 'Unmatched rate (a header value nobody intercepts) vs active personal intercepts on the service') {
  return {
    title,
    headers: ['Intercepts', 'req/s', 'p99 ms', 'vs 1 intercept'],
    rows: s.counts.map((c) => [String(c.count), fmt.int(c.rps), fmt.ms(c.p99Ms), fmt.pct(c.changePct)]),
  };
}

function activationTable(a) {
  const rows = [
    ['`detour intercept` returned → first routed request (1 agent)', fmt.ms(a.returnToFirstRoutedMs), a.samples.single.length],
    ['rule live on the agent before `detour intercept` returned (1 agent)', fmt.ms(a.liveBeforeReturnMs), a.samples.single.length],
    ['`detour intercept` wall time, incl. Node start-up (1 agent)', fmt.ms(a.cliMs), a.samples.single.length],
    [`\`detour intercept\` started → all ${a.agents} agents route`, fmt.ms(a.fanout.startToAllRoutedMs), a.samples.fanout.length],
    [`\`detour intercept\` returned → all ${a.agents} agents route`, fmt.ms(a.fanout.returnToAllRoutedMs), a.samples.fanout.length],
    [`first → last of the ${a.agents} agents routing`, fmt.ms(a.fanout.spreadMs), a.samples.fanout.length],
    [`\`detour intercept\` wall time (${a.agents} agents)`, fmt.ms(a.fanout.cliMs), a.samples.fanout.length],
  ];
  return { title: 'Intercept activation (medians, ms)', headers: ['Measure', 'ms', 'samples'], align: 'lrr', rows: rows.map((r) => r.map(String)) };
}

function streamingTable(st) {
  const cell = (m) => (m ? `${fmt.mib(m.startMiB)} / ${fmt.mib(m.maxMiB)} / ${fmt.mib(m.endMiB)}` : '—');
  return {
    title: `Streaming ${(st.bytes / 1024 ** 2).toFixed(0)} MiB through the agent (RSS MiB: start / max / end)`,
    headers: ['Path', 'direction', 'MiB/s', 'agent RSS', 'daemon RSS', 'manager RSS', 'error'],
    align: 'llrrrrl',
    rows: st.streams.map((s) => [s.path, s.direction, s.error ? 'failed' : fmt.mib(s.mibPerS), cell(s.rss.agent), cell(s.rss.daemon), cell(s.rss.manager), s.error ?? '']),
  };
}

function targetsTable(targets) {
  return {
    title: 'Targets (issues 5 and 15)',
    headers: ['Measure', 'Target', 'Measured', 'Met'],
    align: 'llll',
    rows: targets.map((t) => [t.measure, t.target, t.measured, t.met == null ? 'n/a' : t.met ? 'yes' : 'NO']),
  };
}

/**
 * The h2c phase: HTTP/2 with prior knowledge (gRPC's transport), timed with h2load; a plain GET and a unary gRPC
 * call to a Node h2c app, and a plain GET to an nginx h2c app, which shows the proxies rather than the app.
 */
function h2cTable(h2c) {
  const workloads = [['plain', 'GET'], ['grpc', 'gRPC unary'], ['nginxApp', 'GET, nginx app']];
  return {
    title: 'HTTP/2 cleartext (h2c, gRPC\'s transport): h2load, 8 connections × 16 streams; GET and gRPC unary to one Node h2c app, "GET, nginx app" to an nginx h2c app (medians; ratios: medians of per-round ratios)',
    headers: ['Path', ...workloads.flatMap(([, label]) => [`${label} req/s`, '×nginx', '×direct', 'mean ms']), 'errors'],
    rows: Object.entries(h2c.paths).map(([id, p]) => {
      const q = h2c.ratios[id] ?? {};
      const cells = (w) => (p[w] ? [fmt.int(p[w].rps), fmt.x(q[`${w}VsNginx`]), fmt.x(q[`${w}VsDirect`]), fmt.ms(p[w].meanMs)] : ['—', '—', '—', '—']);
      return [id, ...workloads.flatMap(([w]) => cells(w)), String(workloads.reduce((n, [w]) => n + (p[w]?.errors ?? 0), 0))];
    }),
  };
}

/** The two-CPU phase: each proxy may use two CPUs; nginx and HAProxy use two workers/threads, the agent its one process. */
function twoCpusTable(t) {
  return {
    title: `Two CPUs for the proxy: small responses; proxies on CPUs ${t.proxyCpus}, upstream on ${t.upstreamCpus}, wrk on ${t.loadCpus}${t.sharesLoadCpu ? ' (the proxy shares the load CPU: see docs/performance.md)' : ''}`,
    headers: ['Path', 'req/s', '×nginx-2w', 'p50 ms', 'p99 ms', 'p99 ×nginx-2w', 'errors'],
    rows: Object.entries(t.paths).map(([id, p]) => [id, fmt.int(p.small.rps), fmt.x(t.ratios[id].rpsVsNginx2w), fmt.ms(p.small.p50Ms), fmt.ms(p.small.p99Ms), fmt.x(t.ratios[id].p99VsNginx2w), String(p.small.errors)]),
  };
}

/** The sections present in `result`, in reading order. */
function sections(result) {
  const out = [];
  if (Object.keys(result.paths).length > 0) out.push(mainTable(result));
  if (result.paths['detour-preview']?.small) out.push(previewTable(result));
  if (result.agentMemory) out.push({ title: 'Agent memory during the comparison', headers: ['Measure', 'MiB'], rows: [['peak RSS (VmHWM)', fmt.mib(result.agentMemory.hwmMiB)]] });
  if (result.scaling?.counts) out.push(scalingTable(result.scaling));
  if (result.scalingSigned?.counts) {
    out.push(scalingTable(result.scalingSigned, 'The same with `detour manager --signed-keys`: every intercept signed, each request carrying a valid signed value of a developer who intercepts nothing here'));
  }
  if (result.activation?.fanout) out.push(activationTable(result.activation));
  if (result.streaming?.streams) out.push(streamingTable(result.streaming));
  if (result.h2c && Object.keys(result.h2c.paths).length > 0) out.push(h2cTable(result.h2c));
  if (result.twoCpus && Object.keys(result.twoCpus.paths).length > 0) out.push(twoCpusTable(result.twoCpus));
  if (result.profile) {
    out.push({
      title: `Agent CPU profile, self time (${result.profile.file.split('/').pop()})`,
      headers: ['Function', 'Where', 'self %'],
      align: 'llr',
      rows: result.profile.top.map((f) => [f.fn, f.where, f.selfPct.toFixed(1)]),
    });
  }
  out.push(targetsTable(result.targets));
  // One row per reason: a detour that did not start skips five items for one cause.
  const byReason = new Map();
  for (const [id, why] of Object.entries(result.skipped)) byReason.set(why, [...(byReason.get(why) ?? []), id]);
  if (byReason.size > 0) out.push({ title: 'Not measured', headers: ['What', 'Why'], align: 'll', rows: [...byReason].map(([why, ids]) => [ids.join(', '), why]) });
  return out;
}

/** Column `i`'s alignment: a section's `align` string ('l'/'r' per column), else text first column and figures after. */
const alignOf = (section, i) => section.align?.[i] ?? (i === 0 ? 'l' : 'r');

const mdCell = (s) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ');

/** Markdown for bench/results/latest.md and docs/performance.md. */
export function toMarkdown(result) {
  const m = result.meta;
  const lines = [`Measured ${m.date} on ${m.cpus} CPU(s), Node ${m.node}, ${m.tools}; commit ${m.commit}${m.quick ? '; **--quick smoke run: figures are not meaningful**' : ''}.`, ''];
  for (const s of sections(result)) {
    lines.push(`**${s.title}**`, '', `| ${s.headers.join(' | ')} |`, `|${s.headers.map((_, i) => (alignOf(s, i) === 'l' ? '---' : '---:')).join('|')}|`);
    for (const row of s.rows) lines.push(`| ${row.map(mdCell).join(' | ')} |`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Plain-text tables for the terminal. */
export function toTerminal(result) {
  const lines = [];
  for (const s of sections(result)) {
    // Long reasons are cut on the terminal; latest.md and latest.json keep them whole.
    const cut = (c) => { const t = String(c).replaceAll('`', ''); return t.length > 110 ? `${t.slice(0, 109)}…` : t; };
    const rows = [s.headers, ...s.rows.map((r) => r.map(cut))];
    const widths = s.headers.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    lines.push('', s.title);
    rows.forEach((r, n) => {
      lines.push(r.map((c, i) => (alignOf(s, i) === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd());
      if (n === 0) lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
    });
  }
  return lines.join('\n');
}
