import { randomUUID } from 'node:crypto';
import { MemoryBus, NatsBus, type EventBus } from '@ctp/bus';
import { NATS_URL } from '@ctp/testing';
import { TOKEN_OWNER_STREAM_SPEC } from '@ctp/events';
import { TokenOwnerRegistry } from './token_owners';

describe.each([
  ['in-process bus', async () => new MemoryBus() as EventBus],
  ['NATS JetStream', async () => (await NatsBus.connect({ servers: NATS_URL, name: 'owners-spec' })) as EventBus],
])('token owner registry on the %s', (_name, make) => {
  let bus: EventBus;
  let owners: TokenOwnerRegistry;
  beforeAll(async () => {
    bus = await make();
    await bus.ensureStreams([TOKEN_OWNER_STREAM_SPEC]);
    owners = new TokenOwnerRegistry(bus);
  });
  afterAll(() => bus.close());

  it('records the owner of a jti and finds it with one lookup; an unknown jti has none', async () => {
    const jti = randomUUID();
    const expiresAt = Math.floor(Date.now() / 1000) + 240;
    await owners.setOwner(jti, { partnerId: 'acme', expiresAt });
    expect(await owners.owner(jti)).toEqual({ partnerId: 'acme', expiresAt });
    expect(await owners.owner(randomUUID())).toBeNull();
  });
});
