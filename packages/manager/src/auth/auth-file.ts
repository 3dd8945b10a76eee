import { LineCounter, isNode, parseDocument, stringify } from 'yaml';
import { z } from 'zod';
import { IdentityNameSchema, PolicySchema, RoleSchema } from '@detour/protocol';
import type { Policy, Role } from '@detour/protocol';
import { DetourError } from '@detour/core';

/**
 * The `--auth-file` (YAML, or JSON, which is YAML too): identities with a role,
 * the SHA-256 of their token, an optional expiry and policy, and per-role policies.
 *
 * ```yaml
 * roles:
 *   developer: { global: false, maxIntercepts: 5 }
 * identities:
 *   - name: alice
 *     role: developer
 *     tokenSha256: 9f86d0…   # sha256 hex of the token; the token itself is stored nowhere
 *     expiresAt: 2026-12-31T00:00:00Z
 *     policy: { services: [api, quote] }
 * ```
 */
const IdentityEntrySchema = z.strictObject({
  name: IdentityNameSchema,
  role: RoleSchema,
  tokenSha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 of the token as 64 lower-case hex digits'),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  policy: PolicySchema.optional(),
});

export const AuthFileSchema = z.strictObject({
  roles: z.strictObject({ admin: PolicySchema.optional(), developer: PolicySchema.optional(), agent: PolicySchema.optional() }).optional(),
  identities: z.array(IdentityEntrySchema).max(10_000),
});

/**
 * Names and token hashes that repeat. Checked on the raw value, beside the schema
 * rather than as a refinement of it: zod skips refinements of an object that has
 * other problems, and the file's every problem is reported at once.
 */
function duplicates(raw: unknown): { path: (string | number)[]; message: string }[] {
  const identities = (raw as { identities?: unknown } | null)?.identities;
  if (!Array.isArray(identities)) return [];
  const problems: { path: (string | number)[]; message: string }[] = [];
  for (const [field, what] of [['name', 'names are unique'], ['tokenSha256', 'the same token; each identity needs its own']] as const) {
    const first = new Map<unknown, number>();
    identities.forEach((identity: unknown, index) => {
      const value = (identity as Record<string, unknown> | null)?.[field];
      if (typeof value !== 'string') return;
      const earlier = first.get(value);
      if (earlier === undefined) first.set(value, index);
      else problems.push({ path: ['identities', index, field], message: `${field === 'name' ? `${value} is also` : 'as'} identities[${earlier}]: ${what}` });
    });
  }
  return problems;
}

export type AuthFile = z.infer<typeof AuthFileSchema>;
export type IdentityEntry = z.infer<typeof IdentityEntrySchema>;

/** What a parsed auth file holds, in the shape the manager uses. */
export interface AuthConfig {
  roles: Partial<Record<Role, Policy>>;
  identities: IdentityEntry[];
}

/**
 * Parses and validates an auth file. Every problem is reported at once, each with
 * its line and field (`line 7: identities[1].role: …`), in the error's message and
 * in `details.problems`. The message never quotes a value: a token pasted by
 * mistake where a hash belongs must not reach a log.
 */
export function parseAuthFile(text: string, path: string): AuthConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const lineAt = (offset: number) => lines.linePos(offset).line;
  // The parser's own words, without its "at line L, column C" (the line leads) and without a quote of the text.
  let problems: string[] = doc.errors.map((err) => `line ${lineAt(err.pos[0])}: YAML syntax: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
  if (problems.length === 0) {
    const raw: unknown = doc.toJS();
    const parsed = AuthFileSchema.safeParse(raw);
    const repeated = duplicates(raw);
    if (parsed.success && repeated.length === 0) return { roles: parsed.data.roles ?? {}, identities: parsed.data.identities };
    const issues = (parsed.error?.issues ?? []).flatMap((issue) => {
      // One problem per unknown key, at the key itself.
      if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown field' }));
      return [{ path: issue.path, message: issue.message }];
    });
    problems = [...issues, ...repeated].sort((a, b) => lineOf(doc, a.path, lineAt) - lineOf(doc, b.path, lineAt)).map((issue) => {
      const field = issue.path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`)).join('') || '(file)';
      return `line ${lineOf(doc, issue.path, lineAt)}: ${field}: ${issue.message}`;
    });
  }
  throw new DetourError('DETOUR_ERR_AUTH_FILE_INVALID', `auth file ${path} has ${problems.length} problem(s): ${problems.join('; ')}`, { details: { problems } });
}

/** The line of the deepest node of `path` that exists (a missing field is reported at its parent). */
function lineOf(doc: ReturnType<typeof parseDocument>, path: readonly PropertyKey[], lineAt: (offset: number) => number): number {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as (string | number)[], true);
    if (isNode(node) && node.range !== undefined && node.range !== null) return lineAt(node.range[0]);
  }
  return 1;
}

/** The file's text for a config: JSON when the path ends in `.json`, else YAML. */
export function formatAuthFile(config: AuthConfig, path: string): string {
  const file: AuthFile = { ...(Object.keys(config.roles).length === 0 ? {} : { roles: config.roles }), identities: config.identities };
  if (path.endsWith('.json')) return `${JSON.stringify(file, null, 2)}\n`;
  return `# detour auth file: identities and their token hashes (see README "Security"). Written by \`detour token\`.\n${stringify(file)}`;
}
