export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export interface SseClient {
  status: number;
  events: SseEvent[];
  comments: number;
  next(count: number, timeoutMs?: number): Promise<SseEvent[]>;
  close(): void;
}

/** A minimal Server-Sent Events client over fetch: parses id, event and data fields. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const client: SseClient = {
    status: res.status,
    events: [],
    comments: 0,
    async next(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (client.events.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} SSE events, got ${client.events.length}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return client.events.splice(0, count);
    },
    close: () => controller.abort(),
  };
  if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) return client;
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { event: 'message', data: '' };
          let fields = 0;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) {
              client.comments++;
              continue;
            }
            if (line.startsWith('id: ')) event.id = line.slice(4);
            else if (line.startsWith('event: ')) event.event = line.slice(7);
            else if (line.startsWith('data: ')) event.data += line.slice(6);
            else continue;
            fields++;
          }
          if (fields > 0 && event.event !== 'message') client.events.push(event);
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return client;
}
