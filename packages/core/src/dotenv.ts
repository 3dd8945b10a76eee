/**
 * The `.env` format detour reads (`detour agent --env-file`) and writes
 * (`detour intercept --env-file`), so that what one writes the other reads back
 * exactly. It is the common subset of dotenv, docker `--env-file` and shells:
 * `NAME=value` lines, `#` comments and blank lines, an optional `export `, and
 * values that are bare, 'single-quoted' (taken as they are) or "double-quoted"
 * (with `\\`, `\"`, `\$`, `\n`, `\r` and `\t` escapes). No `${VAR}` expansion:
 * a value is exactly what the file says.
 */

export interface EnvVariable {
  name: string;
  value: string;
}

/** POSIX environment variable names (the portable set; Kubernetes allows more, which shells cannot `export`). */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Values written bare: nothing a shell or a dotenv reader would change. */
const BARE = /^[A-Za-z0-9_./:@%+,=?-]*$/;

/** `.env` text for `variables`, in their order; each value reads back as it was ({@link parseDotenv}). */
export function formatDotenv(variables: ReadonlyArray<EnvVariable>): string {
  return variables
    .map(({ name, value }) => {
      if (BARE.test(value)) return `${name}=${value}\n`;
      const quoted = value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
      return `${name}="${quoted}"\n`;
    })
    .join('');
}

export interface ParsedDotenv {
  variables: EnvVariable[];
  /** One line per problem, `line N: …`, every one of them (STYLE: report every problem in one go). */
  problems: string[];
}

const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', $: '$', n: '\n', r: '\r', t: '\t' };

/**
 * Reads `.env` text. A name given twice keeps its last value, as dotenv and
 * docker do. Problems never quote a value: the file holds secrets.
 */
export function parseDotenv(text: string): ParsedDotenv {
  const variables = new Map<string, string>();
  const problems: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]!;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `line ${index + 1}`;
    const body = line.startsWith('export ') ? line.slice('export '.length).trimStart() : line;
    const eq = body.indexOf('=');
    if (eq <= 0) {
      problems.push(`${where}: expected NAME=value`);
      continue;
    }
    const name = body.slice(0, eq).trimEnd();
    if (!NAME.test(name)) {
      problems.push(`${where}: ${JSON.stringify(name.slice(0, 64))} is not a variable name (letters, digits and _, not starting with a digit)`);
      continue;
    }
    const value = readValue(body.slice(eq + 1).trimStart());
    if (typeof value !== 'string') {
      problems.push(`${where} (${name}): ${value.problem}`);
      continue;
    }
    variables.set(name, value);
  }
  return { variables: [...variables].map(([name, value]) => ({ name, value })), problems };
}

function readValue(text: string): string | { problem: string } {
  if (text.startsWith("'")) {
    const end = text.indexOf("'", 1);
    if (end === -1) return { problem: 'the single quote is not closed on this line' };
    return trailing(text.slice(end + 1)) ?? text.slice(1, end);
  }
  if (text.startsWith('"')) {
    let value = '';
    for (let i = 1; i < text.length; i++) {
      const c = text[i]!;
      if (c === '"') return trailing(text.slice(i + 1)) ?? value;
      if (c === '\\') {
        const next = text[i + 1];
        const escaped = next === undefined ? undefined : ESCAPES[next];
        if (escaped === undefined) return { problem: `unknown escape \\${next ?? ''} in a double-quoted value (known: \\\\ \\" \\$ \\n \\r \\t)` };
        value += escaped;
        i++;
      } else value += c;
    }
    return { problem: 'the double quote is not closed on this line (write a line break as \\n)' };
  }
  // A bare value ends at ` #` (a comment), as in dotenv and shells.
  const comment = text.search(/\s#/);
  return (comment === -1 ? text : text.slice(0, comment)).trimEnd();
}

/** After a closing quote only blanks or a comment may follow. */
function trailing(rest: string): { problem: string } | undefined {
  const after = rest.trim();
  return after === '' || after.startsWith('#') ? undefined : { problem: 'text after the closing quote' };
}
