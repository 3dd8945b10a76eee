import { FieldNameSet, RouteTable, targetPath } from '@detour/core';
import type { RequestHead } from '@detour/core';
import type { Intercept, RuleSet } from '@detour/protocol';
import type { ProbeWatch } from './probe-reporter.js';

const NO_HEADERS: ReadonlyMap<string, readonly string[]> = new Map();

/**
 * The live rule set of one service: a compiled {@link RouteTable} per version
 * plus the set of header names the request parser must capture for it. A new
 * version replaces both at once, so every request sees one consistent table.
 */
export class Router {
  table: RouteTable = RouteTable.EMPTY;
  capture: FieldNameSet = FieldNameSet.EMPTY;
  version = -1;
  /** The global `--mechanism tcp` intercept, if any: a raw TCP port routes whole connections by it alone. */
  tcpIntercept: Intercept | undefined;
  /** Set only while `detour trace` runs: then each request head is checked against the probes. */
  probes: ProbeWatch | undefined;

  /** Compiles and installs a rule set; throws DETOUR_ERR_INTERCEPT_INVALID_MATCHER and keeps the old one. */
  install(ruleSet: RuleSet, probes?: ProbeWatch): void {
    const table = new RouteTable(ruleSet.intercepts);
    this.capture = new FieldNameSet(probes === undefined ? table.headerNames : [...table.headerNames, ...probes.headerNames]);
    this.probes = probes;
    this.table = table;
    this.tcpIntercept = ruleSet.intercepts.find((i) => i.global && i.mechanism === 'tcp');
    this.version = ruleSet.version;
  }

  /** The intercept a request belongs to, or undefined for the app. Allocation-free while no rule exists. */
  match(head: RequestHead): Intercept | undefined {
    if (this.table.size === 0) return undefined;
    return this.table.match({ path: targetPath(head.target), headers: head.captured ?? NO_HEADERS });
  }
}
