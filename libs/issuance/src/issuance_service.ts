import { randomUUID } from 'node:crypto';
import { buildClaims, CLOCK_SKEW_SECONDS, CtpError, pairwiseSubject, signEs256With, type IssueRequest } from '@ctp/ctp-core';
import { consentIssuedEvent, publishEvent, type EventPublisher } from '@ctp/events';
import { SigningUnavailableError, type TokenKeys } from '@ctp/keys';
import { mayUseProcessor, type Partner } from '@ctp/partners';
import { consentIssued, publishSpan } from '@ctp/telemetry';

/** Where the issuer records which partner owns a jti (the token owner registry); resolves once it is durable. */
export interface TokenOwners {
  setOwner(jti: string, owner: { partnerId: string; expiresAt: number }): Promise<void>;
}

export interface IssuanceOptions {
  /** The signing key (local key directory or Cloud KMS) and the keys the JWKS publishes. */
  keys: TokenKeys;
  owners: TokenOwners;
  /** Where `consent.issued` goes (the bus); it resolves once the event is stored durably. */
  events: EventPublisher;
  issuer: string;
  ttlSeconds: number;
  subjectSecret: Buffer;
}

export interface IssuedToken {
  token: string;
  jti: string;
  expires_at: string;
}

export class IssuanceService {
  constructor(private readonly options: IssuanceOptions) {}

  /**
   * Signs a token, records its owner (so only that partner can revoke it) and
   * publishes `consent.issued`, answering only once both are durable on the bus.
   * Signing comes first, so a signing key service that is down or answers wrongly
   * leaves nothing behind; if any step fails the token is not returned: nothing is
   * issued (503). The two writes run side by side, so issuance waits for one round
   * of acknowledgements; an owner or ledger record of a token that was then not
   * returned names a jti nobody holds.
   */
  async issue(partner: Partner, request: IssueRequest, nowMs = Date.now(), traceparent?: string | string[]): Promise<IssuedToken> {
    const { subject_ref: subjectRef, key_binding: keyBinding, ...envelope } = request;
    if (!mayUseProcessor(partner, envelope.processor)) {
      throw new CtpError('processor_not_allowed', `partner ${partner.id} is not configured for processor ${envelope.processor}`, {
        errors: [{ field: 'processor', rule: 'allowed_processor', message: 'not among the partner configured processors' }],
      });
    }
    const nowSeconds = Math.floor(nowMs / 1000);
    if (Date.parse(envelope.ts) > nowMs + CLOCK_SKEW_SECONDS * 1000) {
      throw new CtpError('validation_failed', 'ts: consent time is in the future', {
        errors: [{ field: 'ts', rule: 'not_in_future', message: `must not be more than ${CLOCK_SKEW_SECONDS} s ahead of the server clock` }],
      });
    }
    const claims = buildClaims({
      envelope,
      issuer: this.options.issuer,
      sub: pairwiseSubject(this.options.subjectSecret, partner.id, subjectRef),
      jti: randomUUID(),
      policyUri: partner.policyUri,
      nowSeconds,
      ttlSeconds: this.options.ttlSeconds,
      keyBindingJkt: keyBinding?.jkt,
    });
    const { token, kid } = await this.sign(claims);
    const event = consentIssuedEvent({
      jti: claims.jti,
      partner_id: partner.id,
      sub: claims.sub,
      aud: claims.aud,
      purpose: claims.purpose,
      scope: claims.scope,
      context_hash: claims.context_hash,
      channel: envelope.channel,
      retention: envelope.retention,
      jurisdiction: envelope.jurisdiction,
      ui_copy_id: envelope.ui_copy_id,
      consent_ts: envelope.ts,
      iat: claims.iat,
      exp: claims.exp,
      kid,
      policy_uri: claims.policy_uri,
    });
    const [owner, ledger] = await Promise.allSettled([
      this.options.owners.setOwner(claims.jti, { partnerId: partner.id, expiresAt: claims.exp }),
      publishSpan(event.subject, traceparent, (headers) => publishEvent(this.options.events, event, headers)),
    ]);
    if (owner.status === 'rejected') throw new CtpError('unavailable', 'the token owner registry (NATS) is unavailable; no token was issued', { cause: owner.reason });
    if (ledger.status === 'rejected') throw new CtpError('unavailable', 'the event bus (NATS) is unavailable; no token was issued', { cause: ledger.reason });
    consentIssued.series(partner.id).inc();
    return { token, jti: claims.jti, expires_at: new Date(claims.exp * 1000).toISOString() };
  }

  private async sign(claims: object): Promise<{ token: string; kid: string }> {
    try {
      const signer = await this.options.keys.signer();
      return { token: await signEs256With(claims, signer.kid, (input) => signer.sign(input)), kid: signer.kid };
    } catch (error) {
      if (!(error instanceof SigningUnavailableError)) throw error;
      throw new CtpError('unavailable', 'the signing key service is unavailable; no token was issued', { cause: error });
    }
  }
}
