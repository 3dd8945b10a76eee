/**
 * bench/results/ratios.svg: each path's figures divided by nginx's, as
 * horizontal bars with a line at 1.0 (nginx) and at the 0.8 target.
 * Hand-written SVG keeps the bench free of chart dependencies.
 */

const SERIES = [
  { key: 'rpsVsNginx', label: 'req/s ÷ nginx', color: '#2b6cb0' },
  { key: 'mibVsNginx', label: '1 MiB MiB/s ÷ nginx', color: '#38a169' },
  { key: 'p99VsNginx', label: 'p99 ÷ nginx (lower is better)', color: '#dd6b20' },
];

const W = 760;
const LEFT = 150;
const RIGHT = 70;
const BAR = 14;
const GAP = 4;
const GROUP_GAP = 16;
const TOP = 56;
/** Ratios above this are drawn to the edge and marked "»" with their value. */
const AXIS_CAP = 4;

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/** @param {object} result the content of latest.json */
export function ratiosSvg(result) {
  const ids = Object.keys(result.ratios);
  const values = ids.flatMap((id) => SERIES.map((s) => result.ratios[id][s.key])).filter(Number.isFinite);
  // At least 0..1.5 so the 1.0 and 0.8 lines are always on the chart; at most
  // 0..4, so one 18× p99 does not squash every other bar into a sliver.
  const max = Math.min(AXIS_CAP, Math.max(1.5, ...values)) * 1.05;
  const plotW = W - LEFT - RIGHT;
  const xOf = (v) => LEFT + (v / max) * plotW;
  const groupH = SERIES.length * (BAR + GAP) + GROUP_GAP;
  const H = TOP + ids.length * groupH + 24;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${LEFT}" y="18" font-size="14" font-weight="bold">Ratios to nginx (${esc(result.meta.date)}${result.meta.quick ? ', --quick: not meaningful' : ''})</text>`,
  ];
  SERIES.forEach((s, i) => {
    const x = LEFT + i * 200;
    out.push(`<rect x="${x}" y="28" width="12" height="12" fill="${s.color}"/><text x="${x + 16}" y="38">${esc(s.label)}</text>`);
  });
  ids.forEach((id, g) => {
    const y0 = TOP + g * groupH;
    out.push(`<text x="${LEFT - 8}" y="${y0 + (SERIES.length * (BAR + GAP)) / 2 + 4}" text-anchor="end">${esc(id)}</text>`);
    SERIES.forEach((s, i) => {
      const v = result.ratios[id][s.key];
      const y = y0 + i * (BAR + GAP);
      if (!Number.isFinite(v)) {
        out.push(`<text x="${LEFT + 4}" y="${y + BAR - 3}" fill="#888">not measured</text>`);
        return;
      }
      const end = xOf(Math.min(v, max));
      out.push(`<rect x="${LEFT}" y="${y}" width="${(end - LEFT).toFixed(1)}" height="${BAR}" fill="${s.color}"/>`);
      out.push(`<text x="${(end + 4).toFixed(1)}" y="${y + BAR - 3}">${v > max ? '» ' : ''}${v.toFixed(2)}×</text>`);
    });
  });
  const bottom = TOP + ids.length * groupH - GROUP_GAP + 4;
  // The two labels sit on either side of their lines so they never overlap.
  for (const [v, dash, label, anchor, dx] of [[1, '', '1.0 = nginx', 'start', 3], [0.8, '4 3', '0.8 target', 'end', -3]]) {
    out.push(`<line x1="${xOf(v).toFixed(1)}" y1="${TOP - 6}" x2="${xOf(v).toFixed(1)}" y2="${bottom}" stroke="#333" stroke-dasharray="${dash}"/>`);
    out.push(`<text x="${(xOf(v) + dx).toFixed(1)}" y="${bottom + 14}" text-anchor="${anchor}" fill="#333">${label}</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
