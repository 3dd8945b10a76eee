// A raw TCP app for the end-to-end tests: greets each connection with "NAME\n",
// then echoes every byte back until the peer ends its side.
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { name: { type: 'string' } } });
const server = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.write(`${values.name}\n`);
  socket.pipe(socket);
});
server.listen(0, '127.0.0.1', () => {
  console.log(`${values.name} listening on tcp://127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
