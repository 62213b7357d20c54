import type { EventBus } from './event_bus';
import { MemoryBus } from './memory_bus';
import { NatsBus } from './nats_bus';

/** NATS JetStream when a URL is configured, else the in-process bus (`ctp up`'s embedded default). */
export async function connectBus(natsUrl: string | undefined, name: string, settings: { ackWaitMs?: number } = {}): Promise<EventBus> {
  if (!natsUrl) return new MemoryBus();
  try {
    return await NatsBus.connect({ servers: natsUrl, name, ackWaitMs: settings.ackWaitMs });
  } catch (error) {
    // The URL may carry credentials: never in a message.
    throw new Error(`NATS JetStream is not reachable at ${natsUrl.replace(/\/\/[^@/,]*@/g, '//')}: ${String(error)}`, { cause: error });
  }
}
