import nodemailer from 'nodemailer';
import type { Db } from '../db/database.ts';
import { claimDueEmails, markEmailFailed, markEmailSent } from './outbox.ts';

export interface MailLogger {
  info(details: Record<string, unknown>, message: string): void;
  warn(details: Record<string, unknown>, message: string): void;
  error(details: Record<string, unknown>, message: string): void;
}

export interface MailSenderOptions {
  db: Db;
  env: 'production' | 'development' | 'test';
  smtpUrl: string | undefined;
  mailFrom: string;
  pollIntervalMs: number;
  log: MailLogger;
}

/** One delivery attempt; throws when the message could not be handed over. */
type Deliver = (message: { to: string; subject: string; text: string }) => Promise<void>;

const BATCH = 20;
const LEASE_MS = 60_000;
const MAX_ATTEMPTS = 8;

/**
 * Delivers the e-mail outbox from inside the server process: after every enqueue (`kick`)
 * and on a timer, it claims due messages and hands them to SMTP, retrying failures with
 * growing delays. Without `SMTP_URL`, development and test write each message to the log
 * (that is how a developer reads the reset link); production logs a warning that names no
 * recipient and never the body, because the body holds a live reset token and logs are
 * read by many more people than a mailbox.
 */
export class MailSender {
  readonly #options: MailSenderOptions;
  readonly #deliver: Deliver | null;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #closeTransport: () => void = () => {};

  constructor(options: MailSenderOptions) {
    this.#options = options;
    this.#deliver = this.#makeDeliver();
  }

  #makeDeliver(): Deliver | null {
    const { smtpUrl, mailFrom, env, log } = this.#options;
    if (smtpUrl !== undefined) {
      const transport = nodemailer.createTransport({
        url: smtpUrl,
        // Certificates are always verified and old TLS refused; `smtps://` uses implicit TLS,
        // and for `smtp://` nodemailer upgrades with STARTTLS whenever the server offers it.
        tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2' },
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 20_000,
      });
      this.#closeTransport = () => transport.close();
      return async (message) => {
        await transport.sendMail({ from: mailFrom, ...message });
      };
    }
    if (env === 'production') return null;
    return async (message) => {
      log.info({ mail: message }, 'outgoing e-mail (SMTP_URL is not set, so it is only logged)');
    };
  }

  start(): void {
    if (this.#deliver === null) {
      this.#options.log.warn({}, 'SMTP_URL is not set: e-mail (password resets) will not be sent');
    }
    this.#timer = setInterval(() => this.kick(), this.#options.pollIntervalMs);
    this.#timer.unref();
  }

  /** Runs a delivery pass soon; passes never overlap, and a kick during one queues another. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#pass()
      .catch((error: unknown) =>
        this.#options.log.error({ err: error }, 'e-mail delivery pass failed'),
      )
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#running;
    this.#closeTransport();
  }

  async #pass(): Promise<void> {
    const { db, log } = this.#options;
    const claimed = await claimDueEmails(db, BATCH, LEASE_MS, new Date());
    for (const email of claimed) {
      const now = new Date();
      if (this.#deliver === null) {
        // Production without SMTP: give up on the message at once, keeping no body.
        await markEmailFailed(
          db,
          email.id,
          email.attempts,
          'SMTP_URL is not set',
          null,
          now.toISOString(),
        );
        log.warn({ emailId: String(email.id) }, 'e-mail dropped: SMTP_URL is not set');
        continue;
      }
      try {
        await this.#deliver({ to: email.recipient, subject: email.subject, text: email.bodyText });
        await markEmailSent(db, email.id, now.toISOString());
      } catch (error) {
        const attempts = email.attempts + 1;
        const retryAt =
          attempts >= MAX_ATTEMPTS
            ? null
            : new Date(now.getTime() + Math.min(2 ** attempts * 1000, 3_600_000)).toISOString();
        const reason = error instanceof Error ? error.message : String(error);
        await markEmailFailed(db, email.id, attempts, reason, retryAt, now.toISOString());
        log.warn(
          { emailId: String(email.id), attempts, err: reason },
          retryAt === null
            ? 'e-mail delivery failed for good'
            : 'e-mail delivery failed; will retry',
        );
      }
    }
  }
}
