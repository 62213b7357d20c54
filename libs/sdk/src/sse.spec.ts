import { readSse, type SseEvent } from './sse';

async function* chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield new TextEncoder().encode(part);
}

describe('Server-Sent Events parser', () => {
  it('dispatches events split across chunks, with ids, multi-line data, CRLF and comments', async () => {
    const events: SseEvent[] = [];
    let activity = 0;
    await readSse(
      chunks('retry: 1000\nid: 7\nevent: ready\ndata: {"cursor":"7"}\n\n: heartbeat\n\nid: 8\r\nevent: revo', 'cation\r\ndata: {"jti":\r\ndata: "a"}\r\n\r\n', 'data:no-space\n\n'),
      (e) => events.push(e),
      () => activity++,
    );
    expect(events).toEqual([
      { id: '7', event: 'ready', data: '{"cursor":"7"}' },
      { id: '8', event: 'revocation', data: '{"jti":\n"a"}' },
      { id: undefined, event: 'message', data: 'no-space' },
    ]);
    expect(activity).toBe(3);
  });

  it('refuses an event block larger than 64 KiB instead of buffering without bound', async () => {
    await expect(readSse(chunks(`data: ${'x'.repeat(70_000)}`), () => undefined, () => undefined)).rejects.toThrow(/64 KiB/);
  });
});
