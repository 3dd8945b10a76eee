// A developer's laptop app that misbehaves on purpose, for the fault suite:
//   GET /slow?ms=N   → 200 JSON {app} after N ms
//   GET /reset       → the connection is reset (RST) once the request arrived
//   GET /garbage     → bytes that are not HTTP, then the connection closes
//   anything else    → 200 JSON {app}
// Raw net, not node:http, so it can answer what no HTTP server would.
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { name: { type: 'string' } } });

function ok(socket) {
  const body = JSON.stringify({ app: values.name });
  socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

const server = net.createServer((socket) => {
  let buffered = '';
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk) => {
    buffered += chunk.toString('latin1');
    for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
      const head = buffered.slice(0, end);
      buffered = buffered.slice(end + 4);
      const target = head.split(' ')[1] ?? '/';
      const url = new URL(target, 'http://laptop');
      if (url.pathname === '/reset') return void socket.resetAndDestroy();
      if (url.pathname === '/garbage') return void socket.end('THIS IS NOT HTTP\r\n\r\n');
      if (url.pathname === '/slow') setTimeout(() => ok(socket), Number(url.searchParams.get('ms') ?? '1000'));
      else ok(socket);
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
