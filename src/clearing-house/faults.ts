/**
 * Faults on demand, set through `POST /control/faults` so that a member bank's handling of a
 * misbehaving counterparty can be tested against a real process. Counters (`…Next`) count down
 * as calls consume them; switches stay on until cleared (`DELETE /control/faults`).
 */
export type FaultEndpoint = 'all' | 'token' | 'payments';

export interface FaultSettings {
  /** Added before every answer of the token and payments endpoints (after the work is done). */
  latencyMs: number;
  /** The next N calls get their connection dropped without an answer. */
  refuseNext: number;
  /** Every call gets its connection dropped (the network is "down"). */
  refuseAll: boolean;
  /** The next N calls answer `failStatus` without doing anything. */
  failNext: number;
  failStatus: number;
  /** Which endpoints `refuseNext`, `refuseAll` and `failNext` hit. */
  endpoints: FaultEndpoint;
  /** The next N payments that would settle are rejected (`network_refused`). */
  rejectNext: number;
  /** The sandbox bank sends the next N payments it receives back. */
  sandboxReturnNext: number;
  /** Every webhook delivery is sent twice (same `webhook-id`). */
  duplicateDeliveries: boolean;
  /** Events to one bank within `reorderWindowMs` of each other are delivered newest first. */
  outOfOrderDeliveries: boolean;
  reorderWindowMs: number;
}

export const FAULT_DEFAULTS: Readonly<FaultSettings> = Object.freeze({
  latencyMs: 0,
  refuseNext: 0,
  refuseAll: false,
  failNext: 0,
  failStatus: 503,
  endpoints: 'all',
  rejectNext: 0,
  sandboxReturnNext: 0,
  duplicateDeliveries: false,
  outOfOrderDeliveries: false,
  reorderWindowMs: 300,
});

/** Statuses `failNext` may answer: the temporary failures a real network produces, and 401. */
export const FAIL_STATUSES = [401, 429, 500, 502, 503, 504] as const;

export class Faults {
  #settings: FaultSettings = { ...FAULT_DEFAULTS };

  get settings(): Readonly<FaultSettings> {
    return this.#settings;
  }

  update(patch: Partial<FaultSettings>): Readonly<FaultSettings> {
    this.#settings = { ...this.#settings, ...patch };
    return this.#settings;
  }

  reset(): Readonly<FaultSettings> {
    this.#settings = { ...FAULT_DEFAULTS };
    return this.#settings;
  }

  #hits(endpoint: Exclude<FaultEndpoint, 'all'>): boolean {
    return this.#settings.endpoints === 'all' || this.#settings.endpoints === endpoint;
  }

  /** Whether this call's connection is to be dropped; consumes one `refuseNext`. */
  takeRefusal(endpoint: Exclude<FaultEndpoint, 'all'>): boolean {
    if (!this.#hits(endpoint)) return false;
    if (this.#settings.refuseAll) return true;
    if (this.#settings.refuseNext > 0) {
      this.#settings.refuseNext -= 1;
      return true;
    }
    return false;
  }

  /** The status to fail this call with, if any; consumes one `failNext`. */
  takeFailure(endpoint: Exclude<FaultEndpoint, 'all'>): number | undefined {
    if (!this.#hits(endpoint) || this.#settings.failNext <= 0) return undefined;
    this.#settings.failNext -= 1;
    return this.#settings.failStatus;
  }

  takeRejection(): boolean {
    if (this.#settings.rejectNext <= 0) return false;
    this.#settings.rejectNext -= 1;
    return true;
  }

  takeSandboxReturn(): boolean {
    if (this.#settings.sandboxReturnNext <= 0) return false;
    this.#settings.sandboxReturnNext -= 1;
    return true;
  }
}
