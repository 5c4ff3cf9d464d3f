import { useCallback, useEffect, useState } from 'react';
import {
  api,
  loadCurrencies,
  type Me,
  onSessionChange,
  refreshSession,
  signOut,
} from './api/client';
import { AdminPage } from './pages/Admin';
import { ApprovalsPage } from './pages/Approvals';
import { LoginPage, RegisterPage } from './pages/Auth';
import { DashboardPage } from './pages/Dashboard';
import { LimitsPage } from './pages/Limits';
import { MovePage } from './pages/Move';
import { SecurityPage } from './pages/Security';
import { StandingOrdersPage } from './pages/StandingOrders';
import { StatementsPage } from './pages/Statements';
import { TransactionsPage } from './pages/Transactions';
import { TransferPage } from './pages/Transfer';
import { Link, navigate, usePath } from './router';
import { Loading } from './ui';

const STAFF_ROLES = ['admin', 'teller', 'auditor'];

export function isStaff(me: Me): boolean {
  return me.roles.some((role) => STAFF_ROLES.includes(role));
}

export function App() {
  const path = usePath();
  const [me, setMe] = useState<Me | null>(null);
  const [booting, setBooting] = useState(true);
  const [currenciesFailed, setCurrenciesFailed] = useState(false);

  const loadMe = useCallback(async () => {
    const { data } = await api.GET('/api/v1/me');
    setMe(data ?? null);
  }, []);

  useEffect(() => {
    // A reload keeps the session through the HttpOnly refresh cookie.
    // Amounts are formatted with the server's currency table, so it is read first.
    void (async () => {
      const [currencies] = await Promise.all([
        loadCurrencies(),
        (async () => {
          if (await refreshSession()) await loadMe();
        })(),
      ]);
      setCurrenciesFailed(!currencies);
      setBooting(false);
    })();
    return onSessionChange((signedIn) => {
      if (!signedIn) setMe(null);
    });
  }, [loadMe]);

  useEffect(() => {
    const titles: Record<string, string> = {
      '/login': 'Sign in',
      '/register': 'Open an account',
      '/': 'Accounts',
      '/move': 'Deposit and withdraw',
      '/transfer': 'Transfer',
      '/transactions': 'Transactions',
      '/statements': 'Statements',
      '/standing-orders': 'Standing orders',
      '/security': 'Security',
      '/admin': 'Staff',
      '/approvals': 'Approvals',
      '/limits': 'Limits',
    };
    document.title = `${titles[path] ?? 'Corebank'} · Corebank`;
  }, [path]);

  if (booting) {
    return (
      <main className="boot">
        <Loading what="your session" />
      </main>
    );
  }

  if (currenciesFailed) {
    return (
      <main className="boot">
        <p role="alert">The bank cannot be reached right now. Reload the page to try again.</p>
      </main>
    );
  }

  if (me === null) {
    const onSignedIn = async () => {
      await loadMe();
      if (path === '/login' || path === '/register') navigate('/');
    };
    const page =
      path === '/register' ? (
        <RegisterPage onSignedIn={onSignedIn} />
      ) : (
        <LoginPage onSignedIn={onSignedIn} />
      );
    return (
      <div className="auth-layout">
        <header className="auth-brand">
          <span className="logo" aria-hidden="true" />
          <span>Corebank</span>
        </header>
        <main id="main">{page}</main>
      </div>
    );
  }

  const staff = isStaff(me);
  const nav: Array<[string, string]> = [
    ['/', 'Accounts'],
    ['/move', 'Deposit & withdraw'],
    ['/transfer', 'Transfer'],
    ['/transactions', 'Transactions'],
    ['/statements', 'Statements'],
    ['/standing-orders', 'Standing orders'],
    ['/security', 'Security'],
    ['/limits', 'Limits'],
  ];
  if (staff) nav.push(['/admin', 'Staff']);
  if (me.roles.includes('admin') || me.roles.includes('auditor')) {
    nav.push(['/approvals', 'Approvals']);
  }

  let page: React.ReactNode;
  if (path.startsWith('/admin')) {
    page = staff ? (
      <AdminPage me={me} />
    ) : (
      <section className="card" aria-labelledby="denied">
        <h1 id="denied">Not available</h1>
        <p>This page is for bank staff only.</p>
        <Link to="/">Back to your accounts</Link>
      </section>
    );
  } else if (path === '/approvals' && staff) page = <ApprovalsPage me={me} />;
  else if (path === '/limits') page = <LimitsPage />;
  else if (path === '/move') page = <MovePage />;
  else if (path === '/transfer') page = <TransferPage />;
  else if (path === '/transactions') page = <TransactionsPage />;
  else if (path === '/statements') page = <StatementsPage />;
  else if (path === '/standing-orders') page = <StandingOrdersPage />;
  else if (path === '/security') page = <SecurityPage me={me} onChanged={loadMe} />;
  else page = <DashboardPage me={me} />;

  return (
    <div className="layout">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <Link to="/" className="brand">
            <span className="logo" aria-hidden="true" />
            <span>Corebank</span>
          </Link>
          <div className="user">
            <span className="user-name">{me.fullName}</span>
            <button
              type="button"
              className="button-link"
              onClick={async () => {
                await signOut();
                navigate('/login');
              }}
            >
              Sign out
            </button>
          </div>
        </div>
        <nav aria-label="Main" className="nav">
          {nav.map(([to, label]) => (
            <Link
              key={to}
              to={to}
              current={to === '/' ? path === '/' : path.startsWith(to)}
              className="nav-link"
            >
              {label}
            </Link>
          ))}
        </nav>
      </header>
      <main id="main" className="content">
        {page}
      </main>
    </div>
  );
}
