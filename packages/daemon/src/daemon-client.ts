import { Client } from 'undici';
import { ErrorBodySchema } from '@detour/protocol';
import { DetourError, errorFromBody } from '@detour/core';
import type { DetourHome } from './home.js';

/** The CLI's side of the daemon's local API. */
export class DaemonClient {
  readonly #client: Client;
  readonly #home: DetourHome;

  constructor(home: DetourHome) {
    this.#home = home;
    this.#client = new Client('http://detour-daemon', { socketPath: home.socketPath });
  }

  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    let response;
    try {
      response = await this.#client.request({
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        throw new DetourError('DETOUR_ERR_CLI_NOT_CONNECTED', `not connected: no daemon runs for ${this.#home.dir}; run \`detour connect --manager URL --token-file FILE\` first`, { cause: err });
      }
      throw err;
    }
    const text = await response.body.text();
    const answer = parseBody(text, response.statusCode);
    if (response.statusCode >= 400) {
      const parsed = ErrorBodySchema.safeParse(answer);
      if (parsed.success) throw errorFromBody(parsed.data);
      throw new DetourError('DETOUR_ERR_INTERNAL_BUG', `daemon answered ${response.statusCode}`);
    }
    return answer as T;
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

/** The daemon always answers JSON (or nothing); anything else is a bug on one side, reported with the parse error as its cause. */
function parseBody(text: string, status: number): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DetourError('DETOUR_ERR_INTERNAL_BUG', `daemon answered ${status} with a body that is not JSON`, { cause: err });
  }
}
