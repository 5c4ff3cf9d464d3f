import { useCallback, useEffect, useState } from 'react';
import { type Account, api, type Problem, problemOf } from './api/client';

/** The customer's accounts, with loading and error state, and a way to reload them. */
export function useAccounts() {
  const [accounts, setAccounts] = useState<Account[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const reload = useCallback(async () => {
    try {
      const { data, error, response } = await api.GET('/api/v1/accounts');
      if (data !== undefined) {
        setAccounts(data.data);
        setProblem(null);
      } else setProblem(problemOf(error, response));
    } catch (error) {
      setProblem(problemOf(error));
    }
  }, []);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { accounts, problem, reload };
}

/**
 * Wrong PINs the user may still enter before the lock, for the hint beside a PIN field: the
 * latest wrong-PIN answer says it, otherwise GET /me (read again whenever `readAgain`
 * changes, e.g. after a movement went through and reset the count).
 */
export function usePinAttemptsLeft(problem: Problem | null, readAgain: unknown): number | null {
  const [fromMe, setFromMe] = useState<number | null>(null);
  useEffect(() => {
    let live = true;
    void readAgain;
    void api.GET('/api/v1/me').then(({ data }) => {
      if (live && data !== undefined) setFromMe(data.pinAttemptsLeft);
    });
    return () => {
      live = false;
    };
  }, [readAgain]);
  if (problem?.code === 'INVALID_PIN' && problem.attemptsLeft !== undefined) {
    return problem.attemptsLeft;
  }
  if (problem?.code === 'USER_LOCKED') return 0;
  return fromMe;
}

export function accountLabel(account: Account): string {
  const name = account.nickname ?? (account.type === 'savings' ? 'Savings' : 'Checking');
  return `${name} ·${account.accountNumber.slice(-4)} (${account.currency})`;
}
