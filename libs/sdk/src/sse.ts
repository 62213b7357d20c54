/** One Server-Sent Event (WHATWG HTML §9.2): the fields CTP's push channel uses. */
export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/** Longest event block accepted; CTP's events are a few hundred bytes. */
const MAX_BLOCK = 64 * 1024;

/**
 * Parses a text/event-stream body: calls `onEvent` per dispatched event and `onActivity` for
 * every chunk (heartbeat comments included), so a caller can tell a quiet stream from a dead one.
 */
export async function readSse(body: AsyncIterable<Uint8Array>, onEvent: (event: SseEvent) => void, onActivity: () => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    onActivity();
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = { id: undefined, event: 'message', data: '' };
      let data: string[] | undefined;
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
        if (field === 'id') event.id = value;
        else if (field === 'event') event.event = value;
        else if (field === 'data') (data ??= []).push(value);
      }
      if (data !== undefined) onEvent({ ...event, data: data.join('\n') });
    }
    if (buffer.length > MAX_BLOCK) throw new Error('an event stream block exceeded 64 KiB');
  }
}
