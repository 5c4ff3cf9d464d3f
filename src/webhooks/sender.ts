import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import {
  guardedLookup,
  isAllowedHost,
  isPrivateAddress,
  normaliseHost,
  RefusedAddressError,
} from './ssrf.ts';

export interface SendOptions {
  allowList: ReadonlySet<string>;
  timeoutMs: number;
  /** Bytes of the response body read at most; the rest is not read. */
  maxResponseBytes: number;
}

export interface SendResult {
  status: number;
  durationMs: number;
}

/**
 * POSTs one delivery. No redirects are followed (a 3xx is a failure: a redirect could point
 * anywhere), the whole exchange has one deadline, and at most `maxResponseBytes` of the
 * answer are read, so a slow or huge receiver cannot tie the dispatcher up.
 */
export function sendWebhook(
  url: URL,
  headers: Record<string, string>,
  body: string,
  options: SendOptions,
): Promise<SendResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const host = normaliseHost(url.hostname);
    // An address literal never goes through `lookup`, so it is checked here.
    if (net.isIP(host) !== 0 && !isAllowedHost(host, options.allowList) && isPrivateAddress(host)) {
      reject(new RefusedAddressError(host, host));
      return;
    }
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(url, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': 'Corebank-Webhooks/1',
      },
      lookup: guardedLookup(options.allowList) as unknown as net.LookupFunction,
      agent: false,
    });
    const deadline = setTimeout(() => {
      request.destroy(new Error(`no complete answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    const finish = (error: Error | null, status = 0) => {
      clearTimeout(deadline);
      if (error !== null) reject(error);
      else resolve({ status, durationMs: Math.round(performance.now() - started) });
    };
    request.once('error', (error) => finish(error));
    request.once('response', (response) => {
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > options.maxResponseBytes) {
          // Enough: the status is what counts; stop reading and drop the connection.
          response.destroy();
          finish(null, response.statusCode ?? 0);
        }
      });
      response.once('end', () => finish(null, response.statusCode ?? 0));
      response.once('error', (error) => finish(error));
    });
    request.end(body);
  });
}
