import fs from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { type Config, ConfigError } from '../config.ts';

export interface HttpsOptions extends SecureContextOptions {
  cert: Buffer;
  key: Buffer;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

/**
 * The HTTPS listener's options when TLS_CERT_FILE and TLS_KEY_FILE are set; undefined means
 * plain HTTP (a TLS-terminating reverse proxy in front, see docs/decisions/0005). TLS 1.2 is
 * the floor: older versions have known weaknesses and no supported client needs them.
 */
export function httpsOptionsOf(config: Pick<Config, 'tls'>): HttpsOptions | undefined {
  if (config.tls === undefined) return undefined;
  const read = (file: string, name: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new ConfigError(`${name} cannot be read: ${(error as Error).message}`);
    }
  };
  return {
    cert: read(config.tls.certFile, 'TLS_CERT_FILE'),
    key: read(config.tls.keyFile, 'TLS_KEY_FILE'),
    minVersion: 'TLSv1.2',
  };
}

/**
 * Fastify's `trustProxy` for the configured proxies. A hop count becomes a function (the
 * form Fastify's types accept): the nearest `hops` addresses are proxies, the next is the
 * client. False trusts no one, so X-Forwarded-For is ignored.
 */
export function trustProxyOf(
  config: Pick<Config, 'trustProxy'>,
): false | string[] | ((address: string, hop: number) => boolean) {
  const { trustProxy } = config;
  if (typeof trustProxy === 'number') return (_address, hop) => hop < trustProxy;
  return trustProxy;
}
