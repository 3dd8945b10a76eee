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
    if (response.statusCode >= 400) {
      const parsed = ErrorBodySchema.safeParse(JSON.parse(text || '{}'));
      if (parsed.success) throw errorFromBody(parsed.data);
      throw new DetourError('DETOUR_ERR_INTERNAL_BUG', `daemon answered ${response.statusCode}`);
    }
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}
