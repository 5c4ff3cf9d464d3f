import { type FormEvent, useState } from 'react';
import { api, type Problem, problemOf, setAccessToken } from '../api/client';
import { Link, navigate } from '../router';
import { ErrorMessage, Field, fieldOf } from '../ui';

export function LoginPage({ onSignedIn }: { onSignedIn: () => Promise<void> }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  const [needsOtp, setNeedsOtp] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const body = needsOtp ? { username, password, otp } : { username, password };
      const { data, error, response } = await api.POST('/api/v1/auth/login', { body });
      if (data !== undefined) {
        setAccessToken(data.accessToken, data.expiresIn);
        await onSignedIn();
        return;
      }
      const found = problemOf(error, response);
      if (found.code === 'MFA_REQUIRED') {
        setNeedsOtp(true);
        return;
      }
      setProblem(found);
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card auth-card" aria-labelledby="login-title">
      <h1 id="login-title">Sign in</h1>
      <p className="muted">Welcome back. Sign in to your accounts.</p>
      <form onSubmit={submit} noValidate>
        <Field
          label="Username"
          name="username"
          value={username}
          onChange={setUsername}
          autoComplete="username"
          required
        />
        <Field
          label="Password"
          name="password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          required
        />
        {needsOtp ? (
          <Field
            label="One-time code"
            name="otp"
            value={otp}
            onChange={setOtp}
            hint="Two-step verification is on. Enter the 6-digit code from your authenticator app, or a recovery code."
            autoComplete="one-time-code"
            inputMode="numeric"
            error={problem?.code === 'INVALID_OTP' ? problem.detail : undefined}
            required
          />
        ) : null}
        <ErrorMessage problem={problem?.code === 'INVALID_OTP' ? null : problem} />
        <button type="submit" className="button" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p className="switch">
        New to Corebank? <Link to="/register">Open an account</Link>
      </p>
    </section>
  );
}

export function RegisterPage({ onSignedIn }: { onSignedIn: () => Promise<void> }) {
  const [form, setForm] = useState({ username: '', password: '', fullName: '', email: '' });
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (name: keyof typeof form) => (value: string) => setForm({ ...form, [name]: value });
  const errorFor = (name: string) => (fieldOf(problem) === name ? problem?.detail : undefined);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const { error, response } = await api.POST('/api/v1/auth/register', { body: form });
      if (response.status === 201) {
        // Sign straight in, so the new customer lands on their (empty) dashboard.
        const login = await api.POST('/api/v1/auth/login', {
          body: { username: form.username, password: form.password },
        });
        if (login.data !== undefined) {
          setAccessToken(login.data.accessToken, login.data.expiresIn);
          await onSignedIn();
          return;
        }
        navigate('/login');
        return;
      }
      const found = problemOf(error, response);
      if (found.code === 'USERNAME_TAKEN') found.field = 'body.username';
      if (found.code === 'EMAIL_TAKEN') found.field = 'body.email';
      setProblem(found);
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  const fieldProblem = fieldOf(problem);
  return (
    <section className="card auth-card" aria-labelledby="register-title">
      <h1 id="register-title">Open an account</h1>
      <p className="muted">It takes a minute. You can open accounts once you are in.</p>
      <form onSubmit={submit} noValidate>
        <Field
          label="Full name"
          name="fullName"
          value={form.fullName}
          onChange={set('fullName')}
          autoComplete="name"
          error={errorFor('fullName')}
          required
        />
        <Field
          label="Email"
          name="email"
          type="email"
          value={form.email}
          onChange={set('email')}
          autoComplete="email"
          error={errorFor('email')}
          required
        />
        <Field
          label="Username"
          name="username"
          value={form.username}
          onChange={set('username')}
          autoComplete="username"
          error={errorFor('username')}
          required
        />
        <Field
          label="Password"
          name="password"
          type="password"
          value={form.password}
          onChange={set('password')}
          autoComplete="new-password"
          hint="At least 12 characters. A passphrase of a few words is easy to remember."
          error={errorFor('password')}
          required
        />
        <ErrorMessage
          problem={
            fieldProblem && ['fullName', 'email', 'username', 'password'].includes(fieldProblem)
              ? null
              : problem
          }
        />
        <button type="submit" className="button" disabled={busy}>
          {busy ? 'Creating your profile…' : 'Create profile'}
        </button>
      </form>
      <p className="switch">
        Already a customer? <Link to="/login">Sign in</Link>
      </p>
    </section>
  );
}
