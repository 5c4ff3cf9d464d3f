import http from 'node:http';

/** A webhook receiver on loopback that records every request and answers as told. */
export interface Received {
  headers: Record<string, string>;
  body: string;
  at: number;
}

export class WebhookReceiver {
  readonly received: Received[] = [];
  /** Decides the status of each request (default 200); may also delay the answer. */
  answer: (request: Received, index: number) => number | Promise<number> = () => 200;
  readonly #server: http.Server;
  port = 0;

  constructor() {
    this.#server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', async () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(request.headers)) {
          if (typeof value === 'string') headers[name] = value;
        }
        const received = { headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
        const index = this.received.push(received) - 1;
        const status = await this.answer(received, index);
        if (status === 0) return; // never answer
        response.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('receiver has no port');
    this.port = address.port;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
