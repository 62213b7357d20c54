import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CtpError } from '@ctp/ctp-core';
import { keyChangeAppliedEvent, keyChangeApprovedEvent, keyChangeRequestedEvent, keyRevokedEvent, publishEvent, type CatalogueEvent, type EventPublisher } from '@ctp/events';
import type { KeyDirectory } from './key_directory';
import { CHANGE_ID, verifyStatement, type ApprovalStatement, type KeyChangeAction, type OperatorRegistry } from './operators';

export interface KeyChangeApproval {
  operator: string;
  signature: string;
  approved_at: number;
}

export interface KeyChange {
  id: string;
  action: KeyChangeAction;
  kid: string;
  expires_at: number;
  created_at: number;
  status: 'open' | 'applied';
  approvals: KeyChangeApproval[];
  applied_at?: number;
  /** The key a rotation published, or the replacement an emergency revocation made. */
  new_kid?: string | null;
}

export interface KeyChangesOptions {
  keys: KeyDirectory;
  operators: OperatorRegistry;
  /** Where every step goes (the bus, into the ledger); each resolves once durable. */
  events: EventPublisher;
  /** Distinct operators whose approvals a change needs (at least 2). */
  requiredApprovals?: number;
  /** Furthest an approval's expiry may lie ahead, seconds (default 24 h). */
  maxApprovalWindowSeconds?: number;
}

/** What the ledger records of an operator's signed approval of a change. */
const approvalStep = (change: KeyChange, approval: KeyChangeApproval) => ({
  change_id: change.id,
  action: change.action,
  kid: change.kid,
  expires_at: change.expires_at,
  operator: approval.operator,
  signature: approval.signature,
});

const LOCK_WAIT_MS = 5_000;
const STALE_LOCK_MS = 30_000;
const nowS = () => Math.floor(Date.now() / 1000);

/**
 * Dual control over key rotation and emergency revocation. A change is proposed
 * with its proposer's signed approval and takes effect when a second, distinct
 * operator approves it; every approval is an Ed25519 signature by that operator's
 * own key over (change id, action, kid, operator, expiry), so it cannot be
 * replayed onto another change. Each step is published to the ledger before it is
 * recorded; if the bus refuses, nothing changes (503). Changes live next to the
 * keys (`changes/<id>.json`), under a lock, so issuers sharing the directory agree.
 */
export class KeyChanges {
  private readonly dir: string;
  private readonly required: number;
  private readonly window: number;

  constructor(private readonly options: KeyChangesOptions) {
    this.dir = join(options.keys.dir, 'changes');
    this.required = Math.max(2, options.requiredApprovals ?? 2);
    this.window = options.maxApprovalWindowSeconds ?? 24 * 3600;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  get requiredApprovals(): number {
    return this.required;
  }

  async propose(input: { id: string; action: KeyChangeAction; kid: string; expires_at: number; operator: string; signature: string }, now = nowS()): Promise<KeyChange> {
    return this.locked(async () => {
      if (this.read(input.id)) throw new CtpError('key_change_conflict', `key change ${input.id} already exists; propose with a new id`);
      const change: KeyChange = { id: input.id, action: input.action, kid: input.kid, expires_at: input.expires_at, created_at: now, status: 'open', approvals: [] };
      if (input.expires_at > now + this.window) {
        throw new CtpError('validation_failed', `expires_at is more than ${this.window} s ahead`, {
          errors: [{ field: 'expires_at', rule: 'max_window', message: `must be at most ${this.window} s after now` }],
        });
      }
      this.checkApproval(change, input.operator, input.signature, now);
      this.checkTarget(change, now);
      const approval = { operator: input.operator, signature: input.signature, approved_at: now };
      await this.publish(keyChangeRequestedEvent({ ...approvalStep(change, approval), required_approvals: this.required }));
      change.approvals.push(approval);
      this.write(change);
      return change;
    });
  }

  async approve(id: string, input: { operator: string; signature: string }, now = nowS()): Promise<KeyChange> {
    return this.locked(async () => {
      const change = this.read(id);
      if (!change) throw new CtpError('not_found', `no key change ${id}`);
      if (change.status !== 'open') throw new CtpError('key_change_conflict', `key change ${id} was already applied; approvals are not replayed`);
      this.checkApproval(change, input.operator, input.signature, now);
      this.checkTarget(change, now);
      const approval = { operator: input.operator, signature: input.signature, approved_at: now };
      await this.publish(keyChangeApprovedEvent(approvalStep(change, approval)));
      change.approvals.push(approval);
      if (change.approvals.length >= this.required) await this.apply(change, now);
      this.write(change);
      return change;
    });
  }

  get(id: string): KeyChange | undefined {
    return CHANGE_ID.test(id) ? this.read(id) : undefined;
  }

  /** Open changes that have not expired, newest first. */
  open(now = nowS()): KeyChange[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => this.read(f.slice(0, -5)))
      .filter((c): c is KeyChange => c !== undefined && c.status === 'open' && c.expires_at >= now)
      .sort((a, b) => b.created_at - a.created_at);
  }

  private async apply(change: KeyChange, now: number): Promise<void> {
    const operators = change.approvals.map((a) => a.operator);
    if (change.action === 'rotate') {
      const kid = this.options.keys.rotate(now);
      change.new_kid = kid;
    } else {
      // Verifiers deny first: the event goes out before the directory changes, so a
      // compromised key is never trusted longer because of a failed write here.
      const revokedAtMs = Date.now();
      await this.publish(keyRevokedEvent({ kid: change.kid, change_id: change.id, revoked_at_ms: revokedAtMs, replacement_kid: null }));
      change.new_kid = this.options.keys.revoke(change.kid, now).replacement ?? null;
    }
    change.status = 'applied';
    change.applied_at = now;
    await this.publish(keyChangeAppliedEvent({ change_id: change.id, action: change.action, kid: change.kid, new_kid: change.new_kid, approved_by: operators })).catch(() => undefined); // the change took effect; the approvals are already in the ledger
  }

  private checkApproval(change: KeyChange, operator: string, signature: string, now: number): void {
    const publicKey = this.options.operators.publicKey(operator);
    if (!publicKey) throw new CtpError('operator_unknown', `operator ${operator} is not in the operators file`);
    const statement: ApprovalStatement = { change_id: change.id, action: change.action, kid: change.kid, operator, expires_at: change.expires_at };
    if (!verifyStatement(statement, signature, publicKey)) {
      throw new CtpError('approval_signature_invalid', `the signature is not operator ${operator}'s over this change's statement (change_id, action, kid, operator, expires_at)`);
    }
    if (change.expires_at < now) throw new CtpError('approval_expired', `key change ${change.id} expired at ${new Date(change.expires_at * 1000).toISOString()}; propose it again`);
    if (change.approvals.some((a) => a.operator === operator)) {
      throw new CtpError('approval_duplicate', `operator ${operator} already approved key change ${change.id}; a second, distinct operator must approve`);
    }
  }

  /** A change is about the key state it was proposed against; it must still hold. */
  private checkTarget(change: KeyChange, now: number): void {
    const states = this.options.keys.states(now);
    const target = states.find((k) => k.kid === change.kid);
    if (change.action === 'rotate') {
      if (target?.status !== 'active') throw new CtpError('key_change_conflict', `a rotation names the active key; ${change.kid} is ${target?.status ?? 'unknown'}`);
      const pending = states.find((k) => k.status === 'pending');
      if (pending) throw new CtpError('key_change_conflict', `key ${pending.kid} is already pending; wait until it activates`);
    } else if (!target || !['pending', 'active', 'retiring'].includes(target.status)) {
      throw new CtpError('key_change_conflict', `only a published key can be revoked; ${change.kid} is ${target?.status ?? 'unknown'}`);
    }
  }

  private async publish(event: CatalogueEvent): Promise<void> {
    try {
      await publishEvent(this.options.events, event);
    } catch (error) {
      throw new CtpError('unavailable', 'the event bus (NATS) is unavailable; the key change was not recorded', { cause: error });
    }
  }

  private read(id: string): KeyChange | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, `${id}.json`), 'utf8')) as KeyChange;
    } catch {
      return undefined;
    }
  }

  private write(change: KeyChange): void {
    const path = join(this.dir, `${change.id}.json`);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(change, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  }

  /** One change operation at a time across every process sharing the directory. */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const lock = join(this.dir, '.lock');
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        closeSync(openSync(lock, 'wx', 0o600));
        break;
      } catch {
        try {
          if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) rmSync(lock, { force: true });
        } catch {
          // released meanwhile
        }
        if (Date.now() > deadline) throw new CtpError('unavailable', 'another key change is in progress; try again');
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    try {
      return await fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }
}
