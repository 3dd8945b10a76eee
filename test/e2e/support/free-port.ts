import net from 'node:net';

/**
 * A port free right now on 127.0.0.1. Only for `detour intercept --port N -- COMMAND`, whose
 * command must be told its port before it starts (as a user does); everything else listens on 0.
 * Between this close and the command's listen another process could take the port: the command
 * then fails to start with EADDRINUSE, a loud failure, never a misrouted request.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
