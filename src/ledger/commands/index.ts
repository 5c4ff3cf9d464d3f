import type { CommandKind, CommandKindName, MoneyCommand } from './command.ts';
import { deposit } from './deposit.ts';
import { holdCapture } from './hold-capture.ts';
import { holdPlace } from './hold-place.ts';
import { holdVoid } from './hold-void.ts';
import { payment } from './payment.ts';
import { paymentCredit } from './payment-credit.ts';
import { reversal } from './reversal.ts';
import { transfer } from './transfer.ts';
import { withdrawal } from './withdrawal.ts';

/** Every kind of money command the engine knows; a new kind is one module and one line here. */
const KINDS: { [K in CommandKindName]: CommandKind<Extract<MoneyCommand, { kind: K }>> } = {
  deposit,
  withdrawal,
  transfer,
  hold_place: holdPlace,
  hold_capture: holdCapture,
  hold_void: holdVoid,
  payment,
  payment_credit: paymentCredit,
  reversal,
};

export function kindOf<C extends MoneyCommand>(command: C): CommandKind<C> {
  return KINDS[command.kind] as unknown as CommandKind<C>;
}

export function kindNamed(name: CommandKindName): CommandKind {
  return KINDS[name] as unknown as CommandKind;
}

/** Kinds that take money out of the command's account: daily limits count them. */
export function outgoingKindNames(): CommandKindName[] {
  return (Object.keys(KINDS) as CommandKindName[]).filter((name) => KINDS[name].outgoing);
}
