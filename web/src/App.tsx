import { type ReactNode, useCallback, useEffect, useState } from 'react';
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
import { ForgotPasswordPage, LoginPage, RegisterPage, ResetPasswordPage } from './pages/Auth';
import { DashboardPage } from './pages/Dashboard';
import { DeskPage } from './pages/Desk';
import { LimitsPage } from './pages/Limits';
import { MovePage } from './pages/Move';
import { PaymentsPage, ReconciliationPage } from './pages/Payments';
import { SecurityPage } from './pages/Security';
import { StandingOrdersPage } from './pages/StandingOrders';
import { StatementsPage } from './pages/Statements';
import { TransactionsPage } from './pages/Transactions';
import { TransferPage } from './pages/Transfer';
import { Link, navigate, usePath } from './router';
import { Loading } from './ui';

type Role = Me['roles'][number];

const STAFF_ROLES: Role[] = ['admin', 'teller', 'auditor'];

export function isStaff(me: Me): boolean {
  return me.roles.some((role) => STAFF_ROLES.includes(role));
}

interface Section {
  path: string;
  label: string;
  title: string;
  /** Who sees it; the server enforces the same rule on every call behind it. */
  roles: Role[];
}

/** Every section of the dashboard and the roles that may use it. */
const SECTIONS: Section[] = [
  { path: '/', label: 'Accounts', title: 'Accounts', roles: ['customer'] },
  { path: '/transfer', label: 'Transfer', title: 'Transfer', roles: ['customer'] },
  {
    path: '/payments',
    label: 'Other banks',
    title: 'Pay someone at another bank',
    roles: ['customer'],
  },
  {
    path: '/move',
    label: 'Deposit & withdraw',
    title: 'Deposit and withdraw',
    roles: ['customer'],
  },
  { path: '/transactions', label: 'Transactions', title: 'Transactions', roles: ['customer'] },
  { path: '/statements', label: 'Statements', title: 'Statements', roles: ['customer'] },
  {
    path: '/standing-orders',
    label: 'Standing orders',
    title: 'Standing orders',
    roles: ['customer'],
  },
  { path: '/limits', label: 'Limits', title: 'Limits', roles: ['customer'] },
  { path: '/admin', label: 'Oversight', title: 'Oversight', roles: ['admin', 'auditor'] },
  { path: '/approvals', label: 'Approvals', title: 'Approvals', roles: ['admin', 'auditor'] },
  {
    path: '/reconciliation',
    label: 'Reconciliation',
    title: 'Reconciliation',
    roles: ['admin', 'auditor'],
  },
  { path: '/desk', label: 'Cash desk', title: 'Cash desk', roles: ['teller', 'admin'] },
  { path: '/desk', label: 'Customers', title: 'Customers', roles: ['auditor'] },
  {
    path: '/security',
    label: 'Security',
    title: 'Security',
    roles: ['customer', 'teller', 'admin', 'auditor'],
  },
];

const SIGNED_OUT_TITLES: Record<string, string> = {
  '/register': 'Open an account',
  '/forgot-password': 'Reset your password',
  '/reset-password': 'Choose a new password',
};

/**
 * Staff must turn on two-step verification before any staff action: until then the server
 * answers 403 MFA_ENROLMENT_REQUIRED on every staff route, so the dashboard offers them
 * only the Security page, with a message saying why.
 */
export function mustEnrol(me: Me): boolean {
  return isStaff(me) && !me.mfaEnabled;
}

/** The sections a user may use, each path once (the first matching label wins). */
export function sectionsOf(me: Me): Section[] {
  const seen = new Set<string>();
  if (mustEnrol(me)) return SECTIONS.filter((section) => section.path === '/security');
  return SECTIONS.filter((section) => {
    if (seen.has(section.path) || !section.roles.some((r) => me.roles.includes(r))) return false;
    seen.add(section.path);
    return true;
  });
}

/** Where a user lands after signing in: customers on their accounts, staff on their desk. */
export function homeOf(me: Me): string {
  if (mustEnrol(me)) return '/security';
  if (me.roles.includes('customer')) return '/';
  if (me.roles.includes('teller')) return '/desk';
  if (me.roles.includes('admin') || me.roles.includes('auditor')) return '/admin';
  return '/security';
}

function sectionOf(path: string, sections: Section[]): Section | undefined {
  return sections.find((s) => (s.path === '/' ? path === '/' : path.startsWith(s.path)));
}

export function App() {
  const path = usePath();
  const [me, setMe] = useState<Me | null>(null);
  const [booting, setBooting] = useState(true);
  const [menuOpen, setMenuOpen] = useState(false);
  const [currenciesFailed, setCurrenciesFailed] = useState(false);

  const loadMe = useCallback(async () => {
    const { data } = await api.GET('/api/v1/me');
    setMe(data ?? null);
    return data ?? null;
  }, []);

  useEffect(() => {
    // A reload keeps the session through the HttpOnly refresh cookie (asked only when this
    // browser signed in before; see maySessionExist). Amounts are formatted with the
    // server's currency table, so it is read before the first page shows.
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

  const sections = me === null ? [] : sectionsOf(me);
  const current = sectionOf(path, sections);

  useEffect(() => {
    const title =
      me === null
        ? (SIGNED_OUT_TITLES[path] ?? 'Sign in')
        : (sectionOf(path, sectionsOf(me))?.title ?? 'Not available');
    document.title = `${title} · Corebank`;
  }, [path, me]);

  // Staff who open the customer home (after sign-in, or by the wordmark) go to their own;
  // staff without two-step verification go to the Security page, wherever they were going.
  useEffect(() => {
    if (me === null) return;
    const home = homeOf(me);
    if (mustEnrol(me) ? path !== home : path === '/' && !me.roles.includes('customer')) {
      navigate(home, { replace: true });
    }
  }, [me, path]);

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
      const signedIn = await loadMe();
      if (signedIn !== null && ['/login', '/register', '/'].includes(path)) {
        navigate(homeOf(signedIn), { replace: true });
      }
    };
    const page =
      path === '/register' ? (
        <RegisterPage onSignedIn={onSignedIn} />
      ) : path === '/forgot-password' ? (
        <ForgotPasswordPage />
      ) : path === '/reset-password' ? (
        <ResetPasswordPage />
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

  let page: ReactNode;
  if (current === undefined) {
    page = (
      <section className="card" aria-labelledby="denied">
        <h1 id="denied">Not available</h1>
        <p>This page is not part of your workspace.</p>
        <Link to={homeOf(me)}>Back to your start page</Link>
      </section>
    );
  } else if (current.path === '/admin') page = <AdminPage me={me} />;
  else if (current.path === '/desk') page = <DeskPage me={me} />;
  else if (current.path === '/approvals') page = <ApprovalsPage me={me} />;
  else if (current.path === '/limits') page = <LimitsPage />;
  else if (current.path === '/move') page = <MovePage />;
  else if (current.path === '/transfer') page = <TransferPage />;
  else if (current.path === '/payments') page = <PaymentsPage />;
  else if (current.path === '/reconciliation') page = <ReconciliationPage />;
  else if (current.path === '/transactions') page = <TransactionsPage />;
  else if (current.path === '/statements') page = <StatementsPage />;
  else if (current.path === '/standing-orders') page = <StandingOrdersPage />;
  else if (current.path === '/security')
    page = (
      <SecurityPage
        me={me}
        notice={
          mustEnrol(me)
            ? 'Staff must turn on two-step verification before using the staff pages. ' +
              'Set it up below; the other pages open once it is on.'
            : null
        }
        onChanged={async () => {
          await loadMe();
        }}
      />
    );
  else page = <DashboardPage me={me} />;

  return (
    <div className="layout">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className={menuOpen ? 'topbar menu-open' : 'topbar'}>
        <div className="topbar-inner">
          <Link to={homeOf(me)} className="brand">
            <span className="logo" aria-hidden="true" />
            <span>Corebank</span>
          </Link>
          <div className="user">
            <span className="user-name">
              {me.fullName}
              {isStaff(me) ? <span className="user-role"> · {me.roles.join(', ')}</span> : null}
            </span>
            <button
              type="button"
              className="button-link menu-button"
              aria-expanded={menuOpen}
              aria-controls="main-nav"
              onClick={() => setMenuOpen(!menuOpen)}
            >
              Menu
            </button>
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
        <nav aria-label="Main" className="nav" id="main-nav">
          {sections.map((section) => (
            <Link
              key={section.path}
              to={section.path}
              current={section === current}
              className="nav-link"
              onNavigate={() => setMenuOpen(false)}
            >
              {section.label}
            </Link>
          ))}
        </nav>
      </header>
      <main id="main" className="content" tabIndex={-1}>
        {page}
      </main>
    </div>
  );
}
