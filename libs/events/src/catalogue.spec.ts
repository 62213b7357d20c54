import { MemoryBus } from '@ctp/bus';
import { subjectMatches } from '@ctp/bus/internal';
import {
  ALL_LEDGER_EVENTS,
  consentIssuedEvent,
  consentFunnelEvent,
  guardReceiptEvent,
  receiptOfEvent,
  consentRevokedEvent,
  eventIdentity,
  introspectionDecisionsEvent,
  keyChangeAppliedEvent,
  keyChangeApprovedEvent,
  keyChangeRequestedEvent,
  keyRevokedEvent,
  LEDGER_STREAM_SPEC,
  publishEvent,
  REVOCATION_STREAM_SPEC,
  TOKEN_OWNER_STREAM_SPEC,
  tokenOwnerRecord,
  tokenOwnerSubject,
  type CatalogueEvent,
} from './index';
import { ledgerTypeOf } from './streams';

const step = { change_id: 'change-1', action: 'rotate', kid: 'k1', expires_at: 1, operator: 'alice', signature: 's' };
const issued = consentIssuedEvent({
  jti: 'j1', partner_id: 'acme', sub: 's', aud: 'svc://a', purpose: 'p', scope: ['tone.read'], context_hash: 'h', channel: 'voice', retention: 'session_only',
  jurisdiction: 'US-KY', ui_copy_id: 'c', consent_ts: '2025-11-09T20:17:00Z', iat: 1, exp: 2, kid: 'k1', policy_uri: 'https://p',
});
const funnel = consentFunnelEvent('5B0F7D1E-2C44-4D5B-9D1A-0E6F5E9B8A11', {
  partner_id: 'acme', outcome: 'agreed', purpose: 'p', features: ['b', 'a', 'b'], ui_copy_id: 'c', jurisdiction: 'US-KY', at: '2025-11-09T20:17:00Z', received_at_ms: 1,
});
const receiptFields = {
  id: '0B7C6D3E-1F2A-4B5C-8D9E-0F1A2B3C4D5E', decision: 'allow', reason: 'ok', method: 'POST', path: '/v1/infer', content_digest: null, jti: null,
  algs: ['ES256'], breaker_state: 'closed', policy_id: 'p', policy_hash: 'a'.repeat(64), at: 1,
} as const;
const receipt = guardReceiptEvent('acme', { ...receiptFields, algs: ['ES256'] }, 2);
const events: CatalogueEvent[] = [
  issued,
  consentRevokedEvent({ jti: 'j1', partner_id: 'acme', reason: 'user_revoked', revoked_at_ms: 1, expires_at: 2 }),
  introspectionDecisionsEvent([]),
  keyChangeRequestedEvent({ ...step, required_approvals: 2 }),
  keyChangeApprovedEvent(step),
  keyChangeAppliedEvent({ change_id: 'change-1', action: 'rotate', kid: 'k1', new_kid: 'k2', approved_by: ['alice', 'bob'] }),
  keyRevokedEvent({ kid: 'k1', change_id: 'change-1', revoked_at_ms: 1, replacement_kid: null }),
  funnel,
  receipt,
];

describe('event catalogue', () => {
  it('gives every event a subject one of the streams stores, its type and a stable id', () => {
    expect(events.map((e) => [e.subject, e.data.type, e.data.event_id])).toEqual([
      ['ctp.ledger.consent.issued', 'consent.issued', 'consent.issued:j1'],
      ['ctp.revocations.acme', 'consent.revoked', 'consent.revoked:j1'],
      ['ctp.ledger.introspection.decisions', 'introspection.decisions', expect.stringMatching(/^introspection\.decisions:[0-9a-f-]{36}$/)],
      ['ctp.ledger.key.change.requested', 'key.change.requested', 'key.change.requested:change-1'],
      ['ctp.ledger.key.change.approved', 'key.change.approved', 'key.change.approved:change-1:alice'],
      ['ctp.ledger.key.change.applied', 'key.change.applied', 'key.change.applied:change-1'],
      ['ctp.ledger.key.revoked', 'key.revoked', 'key.revoked:k1'],
      ['ctp.ledger.consent.funnel', 'consent.funnel', 'consent.funnel:acme:5b0f7d1e-2c44-4d5b-9d1a-0e6f5e9b8a11'],
      ['ctp.ledger.guard.receipt', 'guard.receipt', 'guard.receipt:acme:0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e'],
    ]);
    expect(receiptOfEvent(receipt.data)).toEqual({ ...receiptFields, id: receiptFields.id.toLowerCase(), algs: ['ES256'] });
    expect(funnel.data.features).toEqual(['a', 'b']);
    for (const e of events) {
      const stored = [LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC].filter((spec) => spec.subjects.some((f) => subjectMatches(f, e.subject)));
      expect([e.subject, stored.length]).toEqual([e.subject, 1]);
      expect(ledgerTypeOf(e.subject) ?? 'consent.revoked').toBe(e.data.type);
    }
    expect(introspectionDecisionsEvent([]).data.event_id).not.toBe(introspectionDecisionsEvent([]).data.event_id);
    expect(ALL_LEDGER_EVENTS).toBe('ctp.ledger.>');
  });

  it('identifies bus events by their payload, and revocations published without an id by their jti', () => {
    expect(eventIdentity(issued.subject, 7, issued.data as unknown as Record<string, unknown>)).toEqual({ type: 'consent.issued', eventId: 'consent.issued:j1' });
    expect(eventIdentity('ctp.revocations.acme', 9, { type: 'consent.revoked', jti: 'j2' })).toEqual({ type: 'consent.revoked', eventId: 'consent.revoked:j2' });
    expect(eventIdentity('ctp.ledger.other.thing', 3, { x: 1 })).toEqual({ type: 'other.thing', eventId: 'ctp.ledger.other.thing#3' });
  });

  it('publishes with the event id as the deduplication id: a retried publish is stored once', async () => {
    const bus = new MemoryBus();
    await bus.ensureStreams([LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC]);
    expect(await publishEvent(bus, issued, { traceparent: 't' })).toBe(1);
    expect(await publishEvent(bus, issued)).toBe(1);
    const { events: stored } = await bus.read({ stream: LEDGER_STREAM_SPEC.name, filter: ALL_LEDGER_EVENTS, fromSeq: 1, max: 10 });
    expect(stored).toEqual([{ subject: issued.subject, seq: 1, data: issued.data, headers: { traceparent: 't' } }]);
  });
});

describe('token owner subjects', () => {
  it('are made only of canonical jtis, so no jti adds a token or a wildcard', () => {
    expect(tokenOwnerSubject('c0b3e1f8-4567-4890-abcd-1234567890ab')).toBe('ctp.owners.c0b3e1f8-4567-4890-abcd-1234567890ab');
    const record = tokenOwnerRecord('c0b3e1f8-4567-4890-abcd-1234567890ab', { partner_id: 'acme', expires_at: 2 });
    expect(record).toEqual({ subject: 'ctp.owners.c0b3e1f8-4567-4890-abcd-1234567890ab', data: { partner_id: 'acme', expires_at: 2 } });
    const stored = [LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC].filter((spec) => spec.subjects.some((f) => subjectMatches(f, record.subject)));
    expect(stored).toEqual([TOKEN_OWNER_STREAM_SPEC]);
    for (const jti of ['C0B3E1F8-4567-4890-ABCD-1234567890AB', 'a.b', '*', '>', 'c0b3e1f8-4567-4890-abcd-1234567890ab.x', '']) {
      expect(() => tokenOwnerSubject(jti)).toThrow(RangeError);
    }
  });
});
