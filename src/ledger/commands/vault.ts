import { vaultAccountNumber } from '../../accounts/accounts-repository.ts';
import type { BatchState, LockedAccount } from './command.ts';

/**
 * The bank's cash account of a currency, locked by the batch. It is created with the first
 * customer account of its currency, so its absence is a bug, not a refusal.
 */
export function vaultOf(batch: BatchState, currency: string): LockedAccount {
  const vault = batch.accounts.get(vaultAccountNumber(currency));
  if (vault === undefined) throw new Error(`vault account for ${currency} is missing`);
  return vault;
}
