import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { EVENTS_STREAM } from '../../src/events/nats-publisher.ts';
import { freePort } from './process.ts';

/**
 * A NATS server with JetStream of the test's own (its own port and store directory), so a
 * test can kill and restart it without touching the machine's shared server.
 */
export const NATS_SERVER = process.env.TEST_NATS_SERVER ?? '/usr/sbin/nats-server';

export class OwnNatsServer {
  readonly storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-nats-'));
  port = 0;
  #child: ChildProcess | null = null;
  log = '';

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const child = spawn(
      NATS_SERVER,
      ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.log += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.log += chunk;
    });
    this.#child = child;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (await canConnect(this.port)) return;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`nats-server did not start on ${this.port}: ${this.log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGKILL: no goodbye to its clients. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.kill();
    fs.rmSync(this.storeDir, { recursive: true, force: true });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface StreamedEvent {
  streamSequence: number;
  sequence: number;
  id: string;
  type: string;
  subject: string;
  /** When JetStream stored it (ms since the epoch). */
  storedAtMs: number;
  time: string;
  data: Record<string, unknown>;
}

/** Every message of COREBANK_EVENTS, in stream order. */
export async function readStream(url: string): Promise<StreamedEvent[]> {
  const nc = await connect({ servers: url, timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc);
    let info: Awaited<ReturnType<typeof jsm.streams.info>>;
    try {
      info = await jsm.streams.info(EVENTS_STREAM);
    } catch {
      return [];
    }
    const events: StreamedEvent[] = [];
    for (
      let seq = info.state.first_seq;
      seq <= info.state.last_seq && info.state.messages > 0;
      seq++
    ) {
      const message = await jsm.streams.getMessage(EVENTS_STREAM, { seq });
      if (message === null) continue;
      const body = message.json<{
        sequence: number;
        id: string;
        type: string;
        time: string;
        data: Record<string, unknown>;
      }>();
      events.push({
        streamSequence: message.seq,
        sequence: body.sequence,
        id: body.id,
        type: body.type,
        subject: message.subject,
        storedAtMs: message.time.getTime(),
        time: body.time,
        data: body.data,
      });
    }
    return events;
  } finally {
    await nc.close();
  }
}

/** The number of messages in COREBANK_EVENTS (0 when it does not exist yet). */
export async function streamLength(url: string): Promise<number> {
  const nc = await connect({ servers: url, timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(EVENTS_STREAM)).state.messages;
  } catch {
    return 0;
  } finally {
    await nc.close();
  }
}
