import type { Fields } from './model.js';

/** Fields whose values are credentials: shown masked until the user asks to see them. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

export const MASK = '••••••';

export function isSecretField(name: string): boolean {
  return SECRET_FIELDS.has(name.toLowerCase());
}

/**
 * A value as the inspector shows it before "reveal": the auth scheme of an
 * Authorization stays visible (`Bearer ••••••`), as do cookie names
 * (`session=••••••; theme=••••••`), so a user can tell which credential was sent
 * without seeing it.
 */
export function maskValue(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (!SECRET_FIELDS.has(lower)) return value;
  if (lower === 'authorization' || lower === 'proxy-authorization') {
    const space = value.indexOf(' ');
    return space > 0 ? `${value.slice(0, space)} ${MASK}` : MASK;
  }
  if (lower === 'cookie') {
    return value
      .split(';')
      .map((pair) => {
        const eq = pair.indexOf('=');
        return eq === -1 ? MASK : `${pair.slice(0, eq).trim()}=${MASK}`;
      })
      .join('; ');
  }
  // Set-Cookie: the cookie's name, then its attributes (Path, HttpOnly, …), which are not secret.
  const [first = '', ...attributes] = value.split(';');
  const eq = first.indexOf('=');
  const masked = eq === -1 ? MASK : `${first.slice(0, eq).trim()}=${MASK}`;
  return [masked, ...attributes.map((a) => a.trim())].join('; ');
}

/** Every field with secret values masked. */
export function maskFields(fields: Fields): Fields {
  return fields.map(([name, value]) => [name, maskValue(name, value)]);
}
