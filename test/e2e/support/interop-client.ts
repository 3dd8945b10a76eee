import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { grpc, quiet, streamStatus } from './grpc-client.js';
import { startProcess, stopProcess } from './processes.js';

/** The messages of support/interop.proto (proto-loader's camelCase field names). */
export interface Payload {
  body: Buffer;
}
export interface EchoStatus {
  code: number;
  message: string;
}
export interface SimpleRequest {
  responseSize?: number;
  payload?: Payload;
  responseStatus?: EchoStatus;
}
export interface SimpleResponse {
  payload: Payload | null;
}
export interface StreamingInputCallRequest {
  payload: Payload;
}
export interface StreamingInputCallResponse {
  aggregatedPayloadSize: number;
}
export interface StreamingOutputCallRequest {
  responseParameters?: { size: number }[];
  payload?: Payload;
  responseStatus?: EchoStatus;
}
export interface StreamingOutputCallResponse {
  payload: Payload | null;
}

/** How a call with one response ended: the response (if OK), its status, and the initial metadata the client got. */
export interface UnaryOutcome<Res> {
  response: Res | undefined;
  status: grpc.StatusObject;
  initialMetadata: grpc.Metadata | undefined;
}

/** How a call with a response stream ended: every message read, its status, and the initial metadata. */
export interface StreamOutcome<Res> {
  messages: Res[];
  status: grpc.StatusObject;
  initialMetadata: grpc.Metadata | undefined;
}

const PROTO = fileURLToPath(new URL('../../support/interop.proto', import.meta.url));
const INTEROP_APP = fileURLToPath(new URL('../../support/interop-app.mjs', import.meta.url));
const definition = protoLoader.loadSync(PROTO, { defaults: true });
const service = definition['grpc.testing.TestService'] as protoLoader.ServiceDefinition;

function method<Req, Res>(name: string): grpc.MethodDefinition<Req, Res> {
  return service[name] as unknown as grpc.MethodDefinition<Req, Res>;
}

type Callback<Res> = (error: grpc.ServiceError | null, response?: Res) => void;

/** Resolves once a call with one response has its status; the callback has run by then (grpc-js calls it first). */
function unaryOutcome<Res>(start: (callback: Callback<Res>) => grpc.ClientUnaryCall | grpc.ClientWritableStream<unknown>): Promise<UnaryOutcome<Res>> {
  return new Promise((resolve) => {
    let response: Res | undefined;
    let initialMetadata: grpc.Metadata | undefined;
    const call = start((_error, value) => (response = value));
    call.once('metadata', (metadata: grpc.Metadata) => (initialMetadata = metadata));
    call.once('status', (status: grpc.StatusObject) => resolve({ response, status, initialMetadata }));
  });
}

/** A client of grpc.testing.TestService over one channel (one HTTP/2 connection). */
export class InteropClient {
  readonly client: grpc.Client;

  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
  }

  /** EmptyCall, or UnimplementedCall (same messages) for the unimplemented_method case. */
  emptyCall(metadata: grpc.Metadata, name: 'EmptyCall' | 'UnimplementedCall' = 'EmptyCall'): Promise<UnaryOutcome<object>> {
    const m = method<object, object>(name);
    return unaryOutcome((callback) => this.client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, metadata, {}, callback));
  }

  unaryCall(request: SimpleRequest, metadata: grpc.Metadata): Promise<UnaryOutcome<SimpleResponse>> {
    const m = method<SimpleRequest, SimpleResponse>('UnaryCall');
    return unaryOutcome((callback) => this.client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, request, metadata, {}, callback));
  }

  streamingOutputCall(request: StreamingOutputCallRequest, metadata: grpc.Metadata): grpc.ClientReadableStream<StreamingOutputCallResponse> {
    const m = method<StreamingOutputCallRequest, StreamingOutputCallResponse>('StreamingOutputCall');
    return quiet(this.client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, request, metadata, {}));
  }

  /** The call to write to and end (or cancel), and how it ended. */
  streamingInputCall(metadata: grpc.Metadata): {
    call: grpc.ClientWritableStream<StreamingInputCallRequest>;
    outcome: Promise<UnaryOutcome<StreamingInputCallResponse>>;
  } {
    const m = method<StreamingInputCallRequest, StreamingInputCallResponse>('StreamingInputCall');
    let call: grpc.ClientWritableStream<StreamingInputCallRequest> | undefined;
    const outcome = unaryOutcome<StreamingInputCallResponse>(
      (callback) => (call = quiet(this.client.makeClientStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, metadata, {}, callback))),
    );
    return { call: call!, outcome };
  }

  fullDuplexCall(metadata: grpc.Metadata, options: grpc.CallOptions = {}): grpc.ClientDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse> {
    const m = method<StreamingOutputCallRequest, StreamingOutputCallResponse>('FullDuplexCall');
    return quiet(this.client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, metadata, options));
  }

  close(): void {
    this.client.close();
  }
}

/** Reads a call's response stream to its end and returns every message with the status. */
export async function collect<Res>(call: grpc.ClientReadableStream<Res> | grpc.ClientDuplexStream<unknown, Res>): Promise<StreamOutcome<Res>> {
  let initialMetadata: grpc.Metadata | undefined;
  call.once('metadata', (metadata: grpc.Metadata) => (initialMetadata = metadata));
  const status = streamStatus(call);
  const messages: Res[] = [];
  try {
    for await (const message of call) messages.push(message as Res);
  } catch {
    // A call that ends with a non-OK status errors its stream; the status says how it ended.
  }
  return { messages, status: await status, initialMetadata };
}

/** One line support/interop-app.mjs prints for a call it saw. */
export interface CallRecord {
  event: 'start' | 'end';
  /** The call's `x-interop-case` metadata. */
  case: string;
  method: string;
  /** At 'end': the status a handler answered (dropped if the client had cancelled); null when the call ended before any did. */
  status: number | null;
}

/** A running support/interop-app.mjs and the calls it reported. */
export class InteropApp {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  readonly #records: CallRecord[] = [];
  readonly #recorded = new EventEmitter();

  private constructor(name: string, url: string, child: ChildProcess) {
    this.name = name;
    this.url = url;
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      this.#records.push(JSON.parse(line) as CallRecord);
      this.#recorded.emit('record');
    });
  }

  static async start(name: string): Promise<InteropApp> {
    const started = await startProcess([INTEROP_APP, '--name', name], /listening on (http:\/\/\S+)/);
    return new InteropApp(name, started.value, started.child);
  }

  get port(): string {
    return new URL(this.url).port;
  }

  /** The records of one case so far. */
  records(interopCase: string, event?: CallRecord['event']): CallRecord[] {
    return this.#records.filter((r) => r.case === interopCase && (event === undefined || r.event === event));
  }

  /** Waits (with a deadline) until this app has reported `count` `event`s for a case; resolves with them. */
  async waitFor(interopCase: string, event: CallRecord['event'], count: number, timeoutMs = 10_000): Promise<CallRecord[]> {
    const enough = () => this.records(interopCase, event).length >= count;
    if (!enough()) {
      await new Promise<void>((resolve, reject) => {
        const onRecord = () => {
          if (!enough()) return;
          clearTimeout(timer);
          this.#recorded.off('record', onRecord);
          resolve();
        };
        const timer = setTimeout(() => {
          this.#recorded.off('record', onRecord);
          reject(new Error(`${this.name} reported ${this.records(interopCase, event).length} of ${count} '${event}' for ${interopCase} within ${timeoutMs} ms`));
        }, timeoutMs);
        this.#recorded.on('record', onRecord);
      });
    }
    return this.records(interopCase, event);
  }

  stop(): Promise<void> {
    return stopProcess(this.child);
  }
}
