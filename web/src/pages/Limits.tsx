import { useEffect, useState } from 'react';
import { api, type Problem, problemOf } from '../api/client';
import { Empty, ErrorMessage, Loading, Money } from '../ui';

type Limits = NonNullable<Awaited<ReturnType<typeof api.GET<'/api/v1/me/limits', object>>>['data']>;

/** A customer's daily outgoing limits and what is used of them today (issue #13). */
export function LimitsPage() {
  const [limits, setLimits] = useState<Limits | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => {
    void api
      .GET('/api/v1/me/limits')
      .then(({ data, error, response }) =>
        data !== undefined ? setLimits(data) : setProblem(problemOf(error, response)),
      );
  }, []);
  if (problem) return <ErrorMessage problem={problem} />;
  if (limits === null) return <Loading what="your limits" />;
  const limit = limits.dailyOutgoing as Record<string, string>;
  const used = limits.usedToday as Record<string, string>;
  const left = limits.remainingToday as Record<string, string>;
  const currencies = Object.keys(limit);
  return (
    <section className="card" aria-labelledby="limits-title">
      <h1 id="limits-title">Daily limits</h1>
      <p className="muted">
        Withdrawals, transfers and standing orders together, for the business day{' '}
        {limits.businessDay} ({limits.timeZone}).
      </p>
      {currencies.length === 0 ? (
        <Empty>No daily limit applies to you.</Empty>
      ) : (
        <table className="table" data-testid="limits">
          <thead>
            <tr>
              <th scope="col">Currency</th>
              <th scope="col">Limit</th>
              <th scope="col">Used today</th>
              <th scope="col">Left today</th>
            </tr>
          </thead>
          <tbody>
            {currencies.map((c) => (
              <tr key={c}>
                <td>{c}</td>
                <td>
                  <Money amount={limit[c] ?? '0'} currency={c} />
                </td>
                <td>
                  <Money amount={used[c] ?? '0'} currency={c} />
                </td>
                <td>
                  <Money amount={left[c] ?? '0'} currency={c} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
