import type { AuditEvent } from '../audit/audit.ts';
import { appendAudit } from '../audit/audit.ts';
import type { Engine, Trx } from '../db/database.ts';
import { appendEvents, type NewEvent } from '../events/outbox.ts';
import { lockUserGates, type PinState, savePinStates } from './batch-repository.ts';
import type { Refusal } from './commands/command.ts';
import { pinIsRight, userNotLocked } from './rules.ts';

/**
 * The transaction PIN checked outside a money batch (today: creating a standing order),
 * by the very rules a batch applies (`userNotLocked`, `pinIsRight`), under the same user
 * row lock, with the counter, the audit event and the `user.locked` event written in the
 * caller's transaction. Returns the refusal, or null when the PIN is right. The caller must
 * commit even on a refusal, so that a wrong PIN is counted.
 */
export async function checkPinInTransaction(
  trx: Trx,
  engine: Engine,
  input: {
    userId: string;
    pin: string;
    pepper: Buffer;
    maxAttempts: number;
    clientIp: string | null;
    now: string;
  },
): Promise<Refusal | null> {
  const gate = (await lockUserGates(trx, engine, [input.userId])).get(input.userId);
  if (gate === undefined) throw new Error(`acting user ${input.userId} does not exist`);
  const locked = userNotLocked(gate);
  if (locked !== null) return locked;
  const pinStates = new Map<string, PinState>();
  const audit: AuditEvent[] = [];
  const events: NewEvent[] = [];
  const refusal = pinIsRight(gate, input.pin, {
    pepper: input.pepper,
    maxAttempts: input.maxAttempts,
    now: input.now,
    clientIp: input.clientIp,
    pinStates,
    audit,
    events,
  });
  if (pinStates.size > 0) {
    const updated = await savePinStates(trx, [...pinStates.values()], input.now);
    if (updated !== BigInt(pinStates.size)) throw new Error('PIN counter of a missing user');
  }
  for (const event of audit) await appendAudit(trx, engine, event, input.now);
  await appendEvents(trx, events);
  return refusal;
}
