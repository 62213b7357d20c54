import { randomUUID } from 'node:crypto';
import { MemoryBus, NatsBus, type EventBus } from '@ctp/bus';
import { NATS_URL } from '@ctp/testing';
import { TOKEN_OWNER_STREAM_SPEC, tokenOwnerSubject, TokenOwnerRegistry } from './token_owners';

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

describe('token owner subjects', () => {
  it('are made only of canonical jtis, so no jti adds a token or a wildcard', () => {
    expect(tokenOwnerSubject('c0b3e1f8-4567-4890-abcd-1234567890ab')).toBe('ctp.owners.c0b3e1f8-4567-4890-abcd-1234567890ab');
    for (const jti of ['C0B3E1F8-4567-4890-ABCD-1234567890AB', 'a.b', '*', '>', 'c0b3e1f8-4567-4890-abcd-1234567890ab.x', '']) {
      expect(() => tokenOwnerSubject(jti)).toThrow(RangeError);
    }
  });
});
