import QRCode from 'qrcode';
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { api, type Me, type Problem, problemOf, signOut, signOutEverywhere } from '../api/client';
import { navigate } from '../router';
import { ErrorMessage, Field, fieldOf, Success } from '../ui';

/** Runs one API call with busy, problem and success state for a small form. */
function useAction() {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [ok, setOk] = useState(false);
  async function run(
    call: () => Promise<{ error?: unknown; response: Response }>,
  ): Promise<boolean> {
    setBusy(true);
    setProblem(null);
    setOk(false);
    try {
      const { error, response } = await call();
      if (response.ok) {
        setOk(true);
        return true;
      }
      setProblem(problemOf(error, response));
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
    return false;
  }
  return { busy, problem, ok, run };
}

export function SecurityPage({ me, onChanged }: { me: Me; onChanged: () => Promise<void> }) {
  return (
    <>
      <div className="page-head">
        <h1>Security</h1>
      </div>
      <div className="grid-2">
        <PinForm me={me} onChanged={onChanged} />
        <PasswordForm />
        <MfaSection me={me} onChanged={onChanged} />
        <section className="card" aria-labelledby="signout-title">
          <h2 id="signout-title">Sessions</h2>
          <p className="muted">
            Sign out here ends this session. Sign out everywhere ends every session of yours, on
            every device, including this one.
          </p>
          <div className="actions">
            <button
              type="button"
              className="button button-secondary"
              onClick={async () => {
                await signOut();
                navigate('/login');
              }}
            >
              Sign out
            </button>
            <button
              type="button"
              className="button button-secondary"
              onClick={async () => {
                await signOutEverywhere();
                navigate('/login');
              }}
            >
              Sign out everywhere
            </button>
          </div>
        </section>
      </div>
    </>
  );
}

function PinForm({ me, onChanged }: { me: Me; onChanged: () => Promise<void> }) {
  const [password, setPassword] = useState('');
  const [pin, setPin] = useState('');
  const action = useAction();
  const field = fieldOf(action.problem);
  async function submit(event: FormEvent) {
    event.preventDefault();
    if (await action.run(() => api.PUT('/api/v1/me/pin', { body: { password, pin } }))) {
      setPassword('');
      setPin('');
      await onChanged();
    }
  }
  return (
    <section className="card" aria-labelledby="pin-title">
      <h2 id="pin-title">{me.pinSet ? 'Change your PIN' : 'Set your transaction PIN'}</h2>
      <p className="muted">Your PIN confirms every withdrawal and transfer.</p>
      <form onSubmit={submit} noValidate>
        <Field
          label="New PIN"
          name="pin"
          type="password"
          value={pin}
          onChange={setPin}
          inputMode="numeric"
          autoComplete="off"
          maxLength={6}
          hint="4 to 6 digits."
          error={field === 'pin' ? action.problem?.detail : undefined}
        />
        <Field
          label="Your password"
          name="password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          error={field === 'password' ? action.problem?.detail : undefined}
        />
        <ErrorMessage problem={field === 'pin' || field === 'password' ? null : action.problem} />
        {action.ok ? <Success>Your PIN is set.</Success> : null}
        <button type="submit" className="button" disabled={action.busy}>
          Save PIN
        </button>
      </form>
    </section>
  );
}

function PasswordForm() {
  const [currentPassword, setCurrent] = useState('');
  const [newPassword, setNew] = useState('');
  const action = useAction();
  const field = fieldOf(action.problem);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const body = { currentPassword, newPassword };
    if (await action.run(() => api.POST('/api/v1/me/password', { body }))) {
      setCurrent('');
      setNew('');
    }
  }
  return (
    <section className="card" aria-labelledby="password-title">
      <h2 id="password-title">Change your password</h2>
      <form onSubmit={submit} noValidate>
        <Field
          label="Current password"
          name="currentPassword"
          type="password"
          value={currentPassword}
          onChange={setCurrent}
          autoComplete="current-password"
          error={field === 'currentPassword' ? action.problem?.detail : undefined}
        />
        <Field
          label="New password"
          name="newPassword"
          type="password"
          value={newPassword}
          onChange={setNew}
          autoComplete="new-password"
          hint="At least 12 characters."
          error={field === 'newPassword' ? action.problem?.detail : undefined}
        />
        <ErrorMessage
          problem={field === 'currentPassword' || field === 'newPassword' ? null : action.problem}
        />
        {action.ok ? <Success>Password changed. Other sessions were signed out.</Success> : null}
        <button type="submit" className="button" disabled={action.busy}>
          Change password
        </button>
      </form>
    </section>
  );
}

function QrCanvas({ text }: { text: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (canvas.current !== null) {
      void QRCode.toCanvas(canvas.current, text, { width: 200, margin: 2 });
    }
  }, [text]);
  return (
    <canvas
      ref={canvas}
      className="qr"
      role="img"
      aria-label="QR code for your authenticator app"
    />
  );
}

function MfaSection({ me, onChanged }: { me: Me; onChanged: () => Promise<void> }) {
  const [enrolment, setEnrolment] = useState<{ secret: string; otpauthUri: string } | null>(null);
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [recovery, setRecovery] = useState<string[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);

  async function start() {
    setBusy(true);
    setProblem(null);
    try {
      const { data, error, response } = await api.POST('/api/v1/me/mfa/enrol', {
        body: { password },
      });
      if (data !== undefined) setEnrolment(data);
      else setProblem(problemOf(error, response));
    } finally {
      setBusy(false);
    }
  }
  async function confirm(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const { data, error, response } = await api.POST('/api/v1/me/mfa/confirm', {
        body: { code },
      });
      if (data !== undefined) {
        setRecovery(data.recoveryCodes);
        setEnrolment(null);
        await onChanged();
      } else setProblem(problemOf(error, response));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="mfa-title">
      <h2 id="mfa-title">Two-step verification</h2>
      {recovery !== null ? (
        <Success>
          Two-step verification is on. Keep these recovery codes somewhere safe; each works once:
          <ul className="codes">
            {recovery.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
        </Success>
      ) : me.mfaEnabled ? (
        <p>
          <span className="badge badge-ok">On</span> Sign-in asks for a code from your authenticator
          app.
        </p>
      ) : enrolment === null ? (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void start();
          }}
        >
          <p className="muted">Add a code from an authenticator app to every sign-in.</p>
          <Field
            label="Your password"
            name="mfaPassword"
            type="password"
            value={password}
            onChange={setPassword}
            autoComplete="current-password"
          />
          <ErrorMessage problem={problem} />
          <button type="submit" className="button" disabled={busy}>
            Set up two-step verification
          </button>
        </form>
      ) : (
        <form onSubmit={confirm} noValidate>
          <p>Scan this code with your authenticator app, then enter the 6-digit code it shows.</p>
          <QrCanvas text={enrolment.otpauthUri} />
          <p className="muted">
            Cannot scan? Enter this key: <code className="secret">{enrolment.secret}</code>
          </p>
          <Field
            label="6-digit code"
            name="code"
            value={code}
            onChange={setCode}
            inputMode="numeric"
            autoComplete="one-time-code"
            maxLength={6}
            error={problem ? problem.detail : undefined}
          />
          <button type="submit" className="button" disabled={busy}>
            Turn on
          </button>
        </form>
      )}
    </section>
  );
}
