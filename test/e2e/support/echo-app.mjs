// A small upstream app for the end-to-end tests, run as its own process.
//   GET  /anything           → JSON {app, method, path, headers}
//   POST /upload             → JSON {app, bytes}: counts a streamed body without keeping it
//   GET  /download?bytes=N   → N bytes, streamed with backpressure
//   POST /trailers           → chunked JSON {app, bytes, trailers} with a trailer `x-app: NAME`
//   GET  /status/N           → an empty response with status N (204, 304, …)
//   GET  /sse?id=X           → text/event-stream; event i+1 is sent only after GET /next?id=X,
//                              so a client sees each event before the app writes the next
//   GET  /long-poll?id=X     → answers only once GET /next?id=X is called
//   GET  /next?id=X          → {released: bool}: advances the SSE stream or answers the long poll
//   GET  /ws-open            → {open: n}: WebSocket connections open now
//   GET  /page               → an HTML page naming the app, with a link to /about and a form posting to /submit
//   GET  /about              → an HTML page naming the app
//   POST /submit             → an HTML page with the form's fields as the app read them
//   GET  /redirect           → 302 to the absolute http://HOST/landing, HOST as the request's Host
//   GET  /set-cookie         → sets `visited=NAME; Domain=<Host without port>`
//   WebSocket on any path    → sends {"app", "path"} first; echoes text as NAME:text;
//                              "close" → closes with 4000; "download N" → N bytes binary then "done";
//                              binary messages are counted; "count" → "count:N"
import http from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string', default: '0' } } });
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** Waiters of /next, by id: the SSE stream or long poll that continues when called. */
const waiting = new Map();

function sse(id, res) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let sent = 0;
  const send = () => {
    sent += 1;
    res.write(`data: ${values.name}-${sent}\n\n`);
    if (sent === 3) return void res.end();
    waiting.set(id, send);
  };
  send();
}

// Headers up to the agent's 32 KiB limit must reach the app (Node's own default is 16 KiB).
const server = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
  const url = new URL(req.url, 'http://app');
  const id = url.searchParams.get('id') ?? '';
  if (url.pathname === '/trailers') {
    let bytes = 0;
    req.on('data', (chunk) => (bytes += chunk.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', trailer: 'x-app' });
      res.write(JSON.stringify({ app: values.name, bytes, trailers: req.trailers }));
      res.addTrailers({ 'x-app': values.name });
      res.end();
    });
    return;
  }
  if (url.pathname.startsWith('/status/')) {
    req.resume();
    res.writeHead(Number(url.pathname.slice('/status/'.length)), { 'x-app': values.name, etag: '"v1"' });
    res.end();
    return;
  }
  if (url.pathname === '/sse') return void sse(id, res);
  if (url.pathname === '/page' || url.pathname === '/about') {
    req.resume();
    const body = url.pathname === '/page' ? html(`<h1 id="app">${values.name}</h1><a id="about" href="/about">About</a><form method="post" action="/submit"><input name="note" value=""><button id="send" type="submit">Send</button></form>`) : html(`<h1 id="app">${values.name}</h1><p id="about-page">about</p>`);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (url.pathname === '/submit') {
    let text = '';
    req.setEncoding('utf8').on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      const note = new URLSearchParams(text).get('note') ?? '';
      const body = html(`<h1 id="app">${values.name}</h1><p id="note">${note.replace(/[<>&]/g, '')}</p>`);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    return;
  }
  if (url.pathname === '/redirect') {
    req.resume();
    res.writeHead(302, { location: `http://${req.headers.host}/landing`, 'content-length': 0 }).end();
    return;
  }
  if (url.pathname === '/set-cookie') {
    req.resume();
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    res.writeHead(200, { 'set-cookie': `visited=${values.name}; Domain=${host}; Path=/; HttpOnly`, 'content-length': 0 }).end();
    return;
  }
  if (url.pathname === '/long-poll') {
    waiting.set(id, () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ app: values.name, polled: id }));
    });
    return;
  }
  if (url.pathname === '/next') {
    const next = waiting.get(id);
    waiting.delete(id);
    next?.();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ released: next !== undefined }));
    return;
  }
  if (url.pathname === '/ws-open') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ open: wss.clients.size }));
    return;
  }
  if (url.pathname === '/upload') {
    let bytes = 0;
    req.on('data', (chunk) => (bytes += chunk.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ app: values.name, bytes }));
    });
    return;
  }
  if (url.pathname === '/download') {
    let left = Number(url.searchParams.get('bytes') ?? '0');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
    const pump = () => {
      while (left > 0) {
        const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return;
  }
  req.resume();
  req.on('end', () => {
    // A Content-Length lets even an HTTP/1.0 keep-alive client keep the connection.
    const body = JSON.stringify({ app: values.name, method: req.method, path: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;

const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (ws, req) => {
  ws.send(JSON.stringify({ app: values.name, path: req.url }));
  let received = 0;
  ws.on('message', (data, isBinary) => {
    if (isBinary) return void (received += data.length);
    const text = data.toString();
    if (text === 'close') return void ws.close(4000, 'bye');
    if (text === 'count') return void ws.send(`count:${received}`);
    if (text.startsWith('download ')) return void download(ws, Number(text.slice('download '.length)));
    ws.send(`${values.name}:${text}`);
  });
});

function html(body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${values.name}</title></head><body>${body}</body></html>`;
}

/** Sends `bytes` in 64 KiB binary messages, at most 16 unacknowledged by the socket at a time. */
function download(ws, bytes) {
  let left = bytes;
  let inFlight = 0;
  const pump = () => {
    if (ws.readyState !== ws.OPEN) return;
    while (left > 0 && inFlight < 16) {
      const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= piece.length;
      inFlight += 1;
      ws.send(piece, () => {
        inFlight -= 1;
        pump();
      });
    }
    if (left === 0 && inFlight === 0) {
      left = -1;
      ws.send('done');
    }
  };
  pump();
}
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`${values.name} listening on http://127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
