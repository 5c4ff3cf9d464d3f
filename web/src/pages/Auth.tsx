import { type FormEvent, useRef, useState } from 'react';
import { api, type Problem, problemOf, setAccessToken } from '../api/client';
import { Link, navigate, useQuery } from '../router';
import { ErrorMessage, Field, fieldMessage, fieldOf, Success, useFocusFirstError } from '../ui';
import {
  type Errors,
  emailProblem,
  errorsOf,
  newPasswordProblem,
  requiredProblem,
  usernameProblem,
} from '../validation';

export function LoginPage({ onSignedIn }: { onSignedIn: () => Promise<void> }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  const [needsOtp, setNeedsOtp] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const found = errorsOf({
      username: requiredProblem(username, 'your username'),
      password: requiredProblem(password, 'your password'),
      otp: needsOtp ? requiredProblem(otp, 'the code from your authenticator app') : null,
    });
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const body = needsOtp ? { username, password, otp: otp.trim() } : { username, password };
      const { data, error, response } = await api.POST('/api/v1/auth/login', { body });
      if (data !== undefined) {
        setAccessToken(data.accessToken, data.expiresIn);
        await onSignedIn();
        return;
      }
      const refused = problemOf(error, response);
      if (refused.code === 'MFA_REQUIRED') {
        setNeedsOtp(true);
        // The new field appears below; move there so the next key press goes into it.
        setTimeout(
          () => form.current?.querySelector<HTMLInputElement>('input[name="otp"]')?.focus(),
          0,
        );
        return;
      }
      if (refused.code === 'INVALID_OTP') refused.field = 'body.otp';
      setProblem(refused);
      setAttempt((n) => n + 1);
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  const field = fieldOf(problem);
  return (
    <section className="card auth-card" aria-labelledby="login-title">
      <h1 id="login-title">Sign in</h1>
      <p className="muted">Welcome back. Sign in to your accounts.</p>
      <form ref={form} onSubmit={submit} noValidate>
        <Field
          label="Username"
          name="username"
          value={username}
          onChange={setUsername}
          autoComplete="username"
          error={errors.username}
          required
        />
        <Field
          label="Password"
          name="password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          error={errors.password}
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
            error={fieldMessage('otp', errors.otp, problem)}
            required
          />
        ) : null}
        <ErrorMessage problem={field === 'otp' ? null : problem} />
        <button type="submit" className="button" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p className="switch">
        <Link to="/forgot-password">Forgot password?</Link>
      </p>
      <p className="switch">
        New to Corebank? <Link to="/register">Open an account</Link>
      </p>
    </section>
  );
}

export function RegisterPage({ onSignedIn }: { onSignedIn: () => Promise<void> }) {
  const [form, setForm] = useState({ username: '', password: '', fullName: '', email: '' });
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);
  useFocusFirstError(formRef, attempt);
  const set = (name: keyof typeof form) => (value: string) => setForm({ ...form, [name]: value });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const found = errorsOf({
      fullName: requiredProblem(form.fullName, 'your full name'),
      email: emailProblem(form.email),
      username: usernameProblem(form.username),
      password: newPasswordProblem(form.password),
    });
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const body = { ...form, email: form.email.trim(), fullName: form.fullName.trim() };
      const { error, response } = await api.POST('/api/v1/auth/register', { body });
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
      const refused = problemOf(error, response);
      if (refused.code === 'USERNAME_TAKEN') refused.field = 'body.username';
      if (refused.code === 'EMAIL_TAKEN') refused.field = 'body.email';
      setProblem(refused);
      setAttempt((n) => n + 1);
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
      <form ref={formRef} onSubmit={submit} noValidate>
        <Field
          label="Full name"
          name="fullName"
          value={form.fullName}
          onChange={set('fullName')}
          autoComplete="name"
          error={fieldMessage('fullName', errors.fullName, problem)}
          required
        />
        <Field
          label="Email"
          name="email"
          type="email"
          value={form.email}
          onChange={set('email')}
          autoComplete="email"
          error={fieldMessage('email', errors.email, problem)}
          required
        />
        <Field
          label="Username"
          name="username"
          value={form.username}
          onChange={set('username')}
          autoComplete="username"
          hint="3 to 32 letters, digits, dots, dashes or underscores."
          error={fieldMessage('username', errors.username, problem)}
          required
        />
        <Field
          label="Password"
          name="password"
          type="password"
          value={form.password}
          onChange={set('password')}
          autoComplete="new-password"
          hint="At least 12 characters. A passphrase of a few words is easy to remember; common passwords and your own name are refused."
          error={fieldMessage('password', errors.password, problem)}
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

/** Asks for a reset link by email; the answer is the same whether or not the email exists. */
export function ForgotPasswordPage() {
  const [email, setEmail] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const found = emailProblem(email);
    setError(found);
    setAttempt((n) => n + 1);
    if (found !== null) return;
    setBusy(true);
    try {
      const { error: refused, response } = await api.POST('/api/v1/auth/password-reset/request', {
        body: { email: email.trim() },
      });
      if (response.ok) setSent(true);
      else setProblem(problemOf(refused, response));
    } catch (thrown) {
      setProblem(problemOf(thrown));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card auth-card" aria-labelledby="forgot-title">
      <h1 id="forgot-title">Reset your password</h1>
      {sent ? (
        <Success>
          If a profile uses {email.trim()}, we have sent it a reset token. It works for 30 minutes:{' '}
          <Link to="/reset-password">enter it here</Link> with your new password.
        </Success>
      ) : (
        <form ref={form} onSubmit={submit} noValidate>
          <p className="muted">
            Enter the email address of your profile. We email you a reset token.
          </p>
          <Field
            label="Email"
            name="email"
            type="email"
            value={email}
            onChange={setEmail}
            autoComplete="email"
            error={error}
            required
          />
          <ErrorMessage problem={problem} />
          <button type="submit" className="button" disabled={busy}>
            {busy ? 'Sending…' : 'Send reset link'}
          </button>
        </form>
      )}
      <p className="switch">
        <Link to="/login">Back to sign in</Link>
      </p>
    </section>
  );
}

/** Sets a new password with the emailed reset token (also taken from ?token=…). */
export function ResetPasswordPage() {
  const [query] = useQuery();
  const [token, setToken] = useState(query.get('token') ?? '');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const found = errorsOf({
      token: requiredProblem(token, 'the reset token from the email'),
      newPassword: newPasswordProblem(password),
    });
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const { error: refused, response } = await api.POST('/api/v1/auth/password-reset/confirm', {
        body: { token: token.trim(), newPassword: password },
      });
      if (response.ok) setDone(true);
      else setProblem(problemOf(refused, response));
    } catch (thrown) {
      setProblem(problemOf(thrown));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card auth-card" aria-labelledby="reset-title">
      <h1 id="reset-title">Choose a new password</h1>
      {done ? (
        <Success>
          Your password is changed and every session was signed out.{' '}
          <Link to="/login">Sign in</Link>
        </Success>
      ) : (
        <form ref={form} onSubmit={submit} noValidate>
          <Field
            label="Reset token"
            name="token"
            value={token}
            onChange={setToken}
            autoComplete="off"
            hint="From the email we sent you."
            error={fieldMessage('token', errors.token, problem)}
          />
          <Field
            label="New password"
            name="newPassword"
            type="password"
            value={password}
            onChange={setPassword}
            autoComplete="new-password"
            hint="At least 12 characters."
            error={fieldMessage('newPassword', errors.newPassword, problem)}
            required
          />
          <ErrorMessage
            problem={['newPassword', 'token'].includes(fieldOf(problem) ?? '') ? null : problem}
          />
          <p className="muted">
            No token? <Link to="/forgot-password">Ask for one</Link>
          </p>
          <button type="submit" className="button" disabled={busy}>
            {busy ? 'Saving…' : 'Save new password'}
          </button>
        </form>
      )}
    </section>
  );
}
