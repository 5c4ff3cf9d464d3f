import QRCode from 'qrcode';
import { type FormEvent, type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { api, type Me, type Problem, problemOf, signOut, signOutEverywhere } from '../api/client';
import type { paths } from '../api/schema';
import { navigate } from '../router';
import {
  ErrorMessage,
  Field,
  fieldMessage,
  fieldOf,
  formatDate,
  Loading,
  messageOf,
  Success,
  useFocusFirstError,
} from '../ui';
import {
  type Errors,
  errorsOf,
  newPasswordProblem,
  pinProblem,
  requiredProblem,
  totpProblem,
} from '../validation';

/** Runs one API call with busy, problem and success state for a small form. */
function useAction() {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [ok, setOk] = useState(false);
  const [attempt, setAttempt] = useState(0);
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
      setAttempt((n) => n + 1);
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
    return false;
  }
  const bump = () => setAttempt((n) => n + 1);
  return { busy, problem, ok, run, attempt, bump, setProblem };
}

export function SecurityPage({
  me,
  onChanged,
  notice = null,
}: {
  me: Me;
  onChanged: () => Promise<void>;
  /** Why the user was sent here (staff who must enrol two-step verification first). */
  notice?: string | null;
}) {
  return (
    <>
      <div className="page-head">
        <h1>Security</h1>
      </div>
      {notice === null ? null : (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <div className="grid-2">
        <PinForm me={me} onChanged={onChanged} />
        <PasswordForm />
        <MfaSection me={me} onChanged={onChanged} />
        <DevicesSection />
      </div>
    </>
  );
}

function PinForm({ me, onChanged }: { me: Me; onChanged: () => Promise<void> }) {
  const [password, setPassword] = useState('');
  const [pin, setPin] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const action = useAction();
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, action.attempt);
  const field = fieldOf(action.problem);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const found = errorsOf({
      pin: pinProblem(pin),
      password: requiredProblem(password, 'your password'),
    });
    setErrors(found);
    action.setProblem(null);
    if (Object.keys(found).length > 0) {
      action.bump();
      return;
    }
    if (await action.run(() => api.PUT('/api/v1/me/pin', { body: { password, pin } }))) {
      setPassword('');
      setPin('');
      await onChanged();
    }
  }
  return (
    <section className="card" aria-labelledby="pin-title">
      <h2 id="pin-title">{me.pinSet ? 'Change your PIN' : 'Set your transaction PIN'}</h2>
      <p className="muted">
        Your PIN confirms every withdrawal and transfer. After 3 wrong PINs in a row, money movement
        and sign-in are locked until the bank unlocks them.
      </p>
      <form ref={form} onSubmit={submit} noValidate>
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
          error={fieldMessage('pin', errors.pin, action.problem)}
        />
        <Field
          label="Your password"
          name="password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          error={fieldMessage('password', errors.password, action.problem)}
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
  const [errors, setErrors] = useState<Errors>({});
  const action = useAction();
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, action.attempt);
  const field = fieldOf(action.problem);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const found = errorsOf({
      currentPassword: requiredProblem(currentPassword, 'your current password'),
      newPassword: newPasswordProblem(newPassword),
    });
    setErrors(found);
    action.setProblem(null);
    if (Object.keys(found).length > 0) {
      action.bump();
      return;
    }
    const body = { currentPassword, newPassword };
    if (await action.run(() => api.POST('/api/v1/me/password', { body }))) {
      setCurrent('');
      setNew('');
    }
  }
  return (
    <section className="card" aria-labelledby="password-title">
      <h2 id="password-title">Change your password</h2>
      <form ref={form} onSubmit={submit} noValidate>
        <Field
          label="Current password"
          name="currentPassword"
          type="password"
          value={currentPassword}
          onChange={setCurrent}
          autoComplete="current-password"
          error={fieldMessage('currentPassword', errors.currentPassword, action.problem)}
        />
        <Field
          label="New password"
          name="newPassword"
          type="password"
          value={newPassword}
          onChange={setNew}
          autoComplete="new-password"
          hint="At least 12 characters. Common passwords and your own name are refused."
          error={fieldMessage('newPassword', errors.newPassword, action.problem)}
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

/**
 * Recovery codes are shown once by the server. Until the customer says they saved them,
 * they are kept in this tab's sessionStorage, so a reload does not lose them; "I saved
 * them" removes them. (They are no more exposed there than on the screen.)
 */
const RECOVERY_KEY = 'corebank.recoveryCodes';
/** Set beside the codes when they replaced an earlier set (not a first enrolment). */
const RECOVERY_RENEWED_KEY = 'corebank.recoveryCodesRenewed';

function storedRecoveryCodes(): string[] | null {
  try {
    const text = sessionStorage.getItem(RECOVERY_KEY);
    const parsed: unknown = text === null ? null : JSON.parse(text);
    return Array.isArray(parsed) && parsed.every((c) => typeof c === 'string') ? parsed : null;
  } catch {
    return null;
  }
}

function storedRenewed(): boolean {
  try {
    return sessionStorage.getItem(RECOVERY_RENEWED_KEY) === '1';
  } catch {
    return false;
  }
}

function storeRecoveryCodes(codes: string[] | null, renewed: boolean): void {
  try {
    if (codes === null) {
      sessionStorage.removeItem(RECOVERY_KEY);
      sessionStorage.removeItem(RECOVERY_RENEWED_KEY);
      return;
    }
    sessionStorage.setItem(RECOVERY_KEY, JSON.stringify(codes));
    if (renewed) sessionStorage.setItem(RECOVERY_RENEWED_KEY, '1');
    else sessionStorage.removeItem(RECOVERY_RENEWED_KEY);
  } catch {
    // Without storage the codes still show; only a reload would lose them.
  }
}

function RecoveryCodes({
  codes,
  onSaved,
  renewed,
}: {
  codes: string[];
  onSaved: () => void;
  renewed: boolean;
}) {
  const [saved, setSaved] = useState(false);
  const [copied, setCopied] = useState<string | null>(null);
  const text = `Corebank recovery codes (each works once)\n${codes.join('\n')}\n`;
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('Copying is blocked here; select the codes or download them instead.');
    }
  }
  function download() {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = 'corebank-recovery-codes.txt';
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  return (
    <div className="recovery">
      <Success>
        {renewed
          ? 'New recovery codes are ready. Your earlier codes no longer work.'
          : 'Two-step verification is on.'}
      </Success>
      <p>
        Save these recovery codes somewhere safe. Each works once, in place of a code from your app,
        if you lose your phone. They are not shown again.
      </p>
      <ul className="codes" aria-label="Recovery codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
      <div className="actions">
        <button type="button" className="button button-secondary" onClick={() => void copy()}>
          Copy codes
        </button>
        <button type="button" className="button button-secondary" onClick={download}>
          Download codes
        </button>
      </div>
      {copied ? (
        <p className="muted" role="status">
          {copied}
        </p>
      ) : null}
      <label className="check">
        <input type="checkbox" checked={saved} onChange={(e) => setSaved(e.target.checked)} /> I
        saved my recovery codes
      </label>
      <button type="button" className="button" disabled={!saved} onClick={onSaved}>
        Done
      </button>
    </div>
  );
}

function MfaSection({ me, onChanged }: { me: Me; onChanged: () => Promise<void> }) {
  const [enrolment, setEnrolment] = useState<{ secret: string; otpauthUri: string } | null>(null);
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [recovery, setRecovery] = useState<string[] | null>(storedRecoveryCodes);
  const [renewed, setRenewed] = useState(storedRenewed);
  const [renewing, setRenewing] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [turningOff, setTurningOff] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

  function check(checks: Record<string, string | null>): boolean {
    const found = errorsOf(checks);
    setErrors(found);
    setProblem(null);
    setAttempt((n) => n + 1);
    return Object.keys(found).length === 0;
  }
  function refused(error: unknown, response: Response) {
    const found = problemOf(error, response);
    if (found.code === 'INVALID_OTP') found.field = 'body.code';
    setProblem(found);
    setAttempt((n) => n + 1);
  }

  async function start(event: FormEvent) {
    event.preventDefault();
    if (!check({ mfaPassword: requiredProblem(password, 'your password') })) return;
    setBusy(true);
    try {
      const { data, error, response } = await api.POST('/api/v1/me/mfa/enrol', {
        body: { password },
      });
      if (data !== undefined) {
        setEnrolment(data);
        setPassword('');
      } else refused(error, response);
    } finally {
      setBusy(false);
    }
  }
  async function confirm(event: FormEvent) {
    event.preventDefault();
    if (!check({ code: totpProblem(code) })) return;
    setBusy(true);
    try {
      const { data, error, response } = await api.POST('/api/v1/me/mfa/confirm', {
        body: { code: code.trim() },
      });
      if (data !== undefined) {
        storeRecoveryCodes(data.recoveryCodes, false);
        setRecovery(data.recoveryCodes);
        setRenewed(false);
        setEnrolment(null);
        setCode('');
        await onChanged();
      } else refused(error, response);
    } finally {
      setBusy(false);
    }
  }
  async function renew(event: FormEvent) {
    event.preventDefault();
    if (
      !check({
        mfaPassword: requiredProblem(password, 'your password'),
        code: totpProblem(code),
      })
    ) {
      return;
    }
    setBusy(true);
    try {
      const { data, error, response } = await api.POST('/api/v1/me/mfa/recovery-codes', {
        body: { password, code: code.trim() },
      });
      if (data !== undefined) {
        storeRecoveryCodes(data.recoveryCodes, true);
        setRecovery(data.recoveryCodes);
        setRenewed(true);
        setRenewing(false);
        setPassword('');
        setCode('');
      } else refused(error, response);
    } finally {
      setBusy(false);
    }
  }
  async function turnOff(event: FormEvent) {
    event.preventDefault();
    if (
      !check({
        mfaPassword: requiredProblem(password, 'your password'),
        code: requiredProblem(code, 'a code from your app or a recovery code'),
      })
    ) {
      return;
    }
    setBusy(true);
    try {
      const { error, response } = await api.POST('/api/v1/me/mfa/disable', {
        body: { password, code: code.trim() },
      });
      if (response.ok) {
        setTurningOff(false);
        setPassword('');
        setCode('');
        await onChanged();
      } else refused(error, response);
    } finally {
      setBusy(false);
    }
  }

  const field = fieldOf(problem);
  const passwordError =
    errors.mfaPassword ?? (field === 'password' && problem ? messageOf(problem) : undefined);
  const codeError = fieldMessage('code', errors.code, problem);
  const general = field === 'password' || field === 'code' ? null : problem;

  let body: ReactNode;
  if (recovery !== null) {
    body = (
      <RecoveryCodes
        codes={recovery}
        renewed={renewed}
        onSaved={() => {
          storeRecoveryCodes(null, false);
          setRecovery(null);
        }}
      />
    );
  } else if (me.mfaEnabled && renewing) {
    body = (
      <form ref={form} onSubmit={renew} noValidate>
        <p>
          New recovery codes replace all of your current ones, used or not. Confirm with your
          password and a code from your authenticator app.
        </p>
        <Field
          label="Your password"
          name="mfaPassword"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          error={passwordError}
        />
        <Field
          label="6-digit code from your app"
          name="code"
          value={code}
          onChange={setCode}
          inputMode="numeric"
          autoComplete="one-time-code"
          maxLength={6}
          error={codeError}
        />
        <ErrorMessage problem={general} />
        <div className="actions">
          <button
            type="button"
            className="button button-secondary"
            onClick={() => {
              setRenewing(false);
              setProblem(null);
              setErrors({});
            }}
          >
            Cancel
          </button>
          <button type="submit" className="button" disabled={busy}>
            Make new codes
          </button>
        </div>
      </form>
    );
  } else if (me.mfaEnabled && !turningOff) {
    body = (
      <>
        <p>
          <span className="badge badge-ok">On</span> Sign-in asks for a code from your authenticator
          app.
        </p>
        <p className="muted">
          Lost your recovery codes, or used some? Make a new set; the old ones stop working.
        </p>
        <div className="actions">
          <button
            type="button"
            className="button button-secondary"
            onClick={() => setRenewing(true)}
          >
            Make new recovery codes
          </button>
          <button
            type="button"
            className="button button-secondary"
            onClick={() => setTurningOff(true)}
          >
            Turn two-step verification off
          </button>
        </div>
      </>
    );
  } else if (me.mfaEnabled) {
    body = (
      <form ref={form} onSubmit={turnOff} noValidate>
        <p>Turning it off makes sign-in need only your password.</p>
        <Field
          label="Your password"
          name="mfaPassword"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          error={passwordError}
        />
        <Field
          label="Code from your app or a recovery code"
          name="code"
          value={code}
          onChange={setCode}
          autoComplete="one-time-code"
          error={codeError}
        />
        <ErrorMessage problem={general} />
        <div className="actions">
          <button
            type="button"
            className="button button-secondary"
            onClick={() => setTurningOff(false)}
          >
            Keep it on
          </button>
          <button type="submit" className="button button-danger" disabled={busy}>
            Turn off
          </button>
        </div>
      </form>
    );
  } else if (enrolment === null) {
    body = (
      <form ref={form} onSubmit={start} noValidate>
        <p className="muted">Add a code from an authenticator app to every sign-in.</p>
        <Field
          label="Your password"
          name="mfaPassword"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          error={passwordError}
        />
        <ErrorMessage problem={general} />
        <button type="submit" className="button" disabled={busy}>
          Set up two-step verification
        </button>
      </form>
    );
  } else {
    body = (
      <form ref={form} onSubmit={confirm} noValidate>
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
          error={codeError}
        />
        <ErrorMessage problem={general} />
        <button type="submit" className="button" disabled={busy}>
          Turn on
        </button>
      </form>
    );
  }

  return (
    <section className="card" aria-labelledby="mfa-title">
      <h2 id="mfa-title">Two-step verification</h2>
      {body}
    </section>
  );
}

type Device =
  paths['/api/v1/me/sessions']['get']['responses']['200']['content']['application/json']['data'][number];

/**
 * Signed-in devices: every login that can still be refreshed, this one marked. Signing a
 * device out ends its tokens at once; the list is read again after every action.
 */
function DevicesSection() {
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [loadProblem, setLoadProblem] = useState<Problem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const action = useAction();

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET('/api/v1/me/sessions');
    if (data !== undefined) {
      setDevices(data.data);
      setLoadProblem(null);
    } else setLoadProblem(problemOf(error, response));
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  async function endOne(device: Device) {
    setNotice(null);
    const ok = await action.run(() =>
      api.DELETE('/api/v1/me/sessions/{sessionId}', {
        params: { path: { sessionId: device.id } },
      }),
    );
    // The list is read again first, so the notice never stands beside a stale list.
    await load();
    if (ok) setNotice(`${device.device} is signed out.`);
  }
  async function endOthers() {
    setNotice(null);
    const ok = await action.run(() => api.POST('/api/v1/me/sessions/end-others', {}));
    await load();
    if (ok) setNotice('Every other device is signed out.');
  }

  const others = devices?.filter((d) => !d.current) ?? [];
  return (
    <section className="card" aria-labelledby="devices-title">
      <h2 id="devices-title">Signed-in devices</h2>
      <p className="muted">
        Each sign-in of yours that is still active. Sign out any you do not recognise, and change
        your password if one looks wrong.
      </p>
      <ErrorMessage problem={loadProblem ?? action.problem} />
      {notice !== null ? <Success>{notice}</Success> : null}
      {devices === null && loadProblem === null ? <Loading what="your devices" /> : null}
      {devices !== null ? (
        <ul className="device-list" aria-label="Signed-in devices">
          {devices.map((device) => (
            <li key={device.id} className="device" data-current={device.current}>
              <div className="device-main">
                <strong>{device.device}</strong>{' '}
                {device.current ? <span className="badge badge-ok">This device</span> : null}
                <span className="muted device-facts">
                  Signed in {formatDate(device.createdAt)} · last active{' '}
                  {formatDate(device.lastUsedAt)}
                  {device.ip !== null ? ` · ${device.ip}` : ''}
                </span>
              </div>
              {device.current ? null : (
                <button
                  type="button"
                  className="button button-secondary button-small"
                  disabled={action.busy}
                  aria-label={`Sign out ${device.device}, signed in ${formatDate(device.createdAt)}`}
                  onClick={() => void endOne(device)}
                >
                  Sign out
                </button>
              )}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="actions">
        {others.length > 0 ? (
          <button
            type="button"
            className="button button-secondary"
            disabled={action.busy}
            onClick={() => void endOthers()}
          >
            Sign out all other devices
          </button>
        ) : null}
        <button
          type="button"
          className="button button-secondary"
          onClick={async () => {
            await signOut();
            navigate('/login');
          }}
        >
          Sign out of this device
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
  );
}
