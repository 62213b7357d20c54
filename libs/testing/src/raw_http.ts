import { connect } from 'node:net';

/**
 * Sends `request` (a whole HTTP/1.1 request, `Connection: close`) over a new socket and
 * resolves with every byte of the answer: what a client sees on the wire, headers in order.
 * The socket is not half-closed: node aborts a request whose client sent FIN before the answer.
 */
export function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
    socket.write(request);
  });
}
