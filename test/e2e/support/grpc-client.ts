import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { startProcess } from './processes.js';
import type { Started } from './processes.js';

/** The messages of support/echo.proto. */
export interface Msg {
  text: string;
  servedBy: string;
  id: string;
}
export interface Size {
  bytes: number;
  chunkBytes: number;
}
export interface Chunk {
  data: Buffer;
}

const PROTO = fileURLToPath(new URL('../../support/echo.proto', import.meta.url));
export const GRPC_APP = fileURLToPath(new URL('../../support/grpc-app.mjs', import.meta.url));
const definition = protoLoader.loadSync(PROTO, { longs: Number, defaults: true });
const service = definition['detour.test.Echo'] as protoLoader.ServiceDefinition;

function method<Req, Res>(name: string): grpc.MethodDefinition<Req, Res> {
  return service[name] as unknown as grpc.MethodDefinition<Req, Res>;
}

/** A typed client of the Echo service over one channel (one HTTP/2 connection). */
export class EchoClient {
  readonly client: grpc.Client;

  constructor(address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ClientOptions = {}) {
    this.client = new grpc.Client(address, credentials, options);
  }

  unary(text: string, metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<{ reply?: Msg; error?: grpc.ServiceError }> {
    const m = method<Partial<Msg>, Msg>('Unary');
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, { text }, metadata, options, (error, reply) =>
        resolve(error === null ? { reply: reply! } : { error }),
      );
    });
  }

  chat(metadata = new grpc.Metadata()): grpc.ClientDuplexStream<Partial<Msg>, Msg> {
    const m = method<Partial<Msg>, Msg>('Chat');
    return quiet(this.client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, metadata, {}));
  }

  hold(metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): grpc.ClientReadableStream<Msg> {
    const m = method<Partial<Msg>, Msg>('Hold');
    return quiet(this.client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, { text: 'hold' }, metadata, options));
  }

  stats(): Promise<number> {
    const m = method<Partial<Msg>, { cancelled: number }>('Stats');
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, new grpc.Metadata(), {}, (error, reply) =>
        error === null ? resolve(reply!.cancelled) : reject(error),
      );
    });
  }

  download(bytes: number, chunkBytes: number, metadata = new grpc.Metadata()): grpc.ClientReadableStream<Chunk> {
    const m = method<Partial<Size>, Chunk>('Download');
    return this.client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, { bytes, chunkBytes }, metadata, {});
  }

  close(): void {
    this.client.close();
  }
}

/** A call's end is read from its 'status' event; its 'error' event must not crash the test process. */
export function quiet<T extends NodeJS.EventEmitter>(call: T): T {
  call.on('error', () => undefined);
  return call;
}

/** Metadata carrying one header, e.g. `x-telepresence-id: alice-3f9c0a`. */
export function metadataOf(header?: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (header !== undefined) {
    const [name, value] = header.split('=') as [string, string];
    metadata.set(name, value);
  }
  return metadata;
}

/** Starts support/grpc-app.mjs; `value` is its URL. */
export function startGrpcApp(name: string, extraArgs: string[] = []): Promise<Started> {
  return startProcess([GRPC_APP, '--name', name, ...extraArgs], /listening on (https?:\/\/\S+)/);
}

/** Next message of a stream, or the error that ended it. */
export function nextMessage<T>(stream: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const onData = (msg: T) => {
      stream.off('error', onError);
      resolve(msg);
    };
    const onError = (err: Error) => {
      stream.off('data', onData);
      reject(err);
    };
    stream.once('data', onData);
    stream.once('error', onError);
  });
}

/** The status a stream ended with (OK or an error). */
export function streamStatus(stream: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>): Promise<grpc.StatusObject> {
  return new Promise((resolve) => stream.once('status', resolve));
}

export { grpc };
