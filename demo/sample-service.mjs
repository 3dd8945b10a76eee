// A tiny service of the demo chain (web → api → quote). It answers with the
// chain of services that served the request, calling the next one if any, and
// says at each hop whether x-telepresence-id arrived.
//
// It does NOT forward the header itself: run it with the propagation library,
//   node --import @detour/propagation/register.mjs demo/sample-service.mjs --name api --next http://…
// and the header of the incoming request is carried onto the call to --next.
// Without the flag the header stops here, which `detour trace` then reports.
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    flavor: { type: 'string', default: 'cluster' },
    port: { type: 'string', default: '0' },
    next: { type: 'string' },
  },
});
const HEADER = 'x-telepresence-id';
const agent = new http.Agent({ keepAlive: true });

function callNext() {
  return new Promise((resolve, reject) => {
    const req = http.get(`${values.next}/`, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body).chain);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
  });
}

const server = http.createServer(async (req, res) => {
  const self = { service: values.name, flavor: values.flavor, headerArrived: req.headers[HEADER] !== undefined };
  try {
    const downstream = values.next === undefined ? [] : await callNext();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ chain: [self, ...downstream] }));
  } catch (err) {
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ chain: [self], error: String(err) }));
  }
});
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`${values.name} (${values.flavor}) listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
