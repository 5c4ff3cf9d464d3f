import dns from 'node:dns';
import net from 'node:net';

/**
 * The guard against server-side request forgery: a webhook URL is chosen by whoever manages
 * endpoints, and without this check it could make the bank's servers call the database,
 * the cloud metadata service or an admin interface on the private network. Every address
 * a name resolves to is checked (not the name), at the moment of connecting, so a name
 * that resolves to a public address when the endpoint is created and to a private one
 * later (DNS rebinding) is still refused. Hosts on the allow-list (exact names or address
 * literals, `WEBHOOK_ALLOWED_HOSTS`) may resolve to private addresses: a receiver on the
 * bank's own network, or loopback in tests.
 */
const BLOCKED = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, including cloud metadata (169.254.169.254)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved and broadcast
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
  ['2001:db8::', 32], // documentation
  ['100::', 64], // discard
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv6');
}

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::) address. */
function embeddedIpv4(address: string): string | null {
  const lower = address.toLowerCase();
  const mapped =
    /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower) ?? /^64:ff9b::(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped?.[1] !== undefined) return mapped[1];
  const hex = /^(?:::ffff|64:ff9b:):([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex?.[1] !== undefined && hex[2] !== undefined) {
    const high = Number.parseInt(hex[1], 16);
    const low = Number.parseInt(hex[2], 16);
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return null;
}

/** True for loopback, private, link-local, multicast, reserved and unspecified addresses. */
export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) return true; // not an address at all: refuse
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  const inner = embeddedIpv4(address);
  if (inner !== null) return BLOCKED.check(inner, 'ipv4');
  return BLOCKED.check(address, 'ipv6');
}

export class RefusedAddressError extends Error {
  constructor(host: string, address: string) {
    super(`${host} resolves to ${address}, a private or loopback address`);
    this.name = 'RefusedAddressError';
  }
}

/** Allowed hosts, lower-case; brackets of IPv6 literals removed. */
export function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
}

export function isAllowedHost(host: string, allowList: ReadonlySet<string>): boolean {
  return allowList.has(normaliseHost(host));
}

/** Refuses a host whose every address is not public, unless it is allow-listed. */
export async function assertPublicHost(
  host: string,
  allowList: ReadonlySet<string>,
): Promise<void> {
  const name = normaliseHost(host);
  if (allowList.has(name)) return;
  const addresses =
    net.isIP(name) !== 0
      ? [{ address: name }]
      : await dns.promises.lookup(name, { all: true, verbatim: true });
  if (addresses.length === 0) throw new Error(`${name} does not resolve`);
  for (const { address } of addresses) {
    if (isPrivateAddress(address)) throw new RefusedAddressError(name, address);
  }
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for http.request that resolves the name and refuses private addresses, so the
 * address that is checked is the address that is connected to.
 */
export function guardedLookup(allowList: ReadonlySet<string>) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true, verbatim: true }, (error, addresses) => {
      if (error !== null) {
        callback(error, []);
        return;
      }
      const allowed = isAllowedHost(hostname, allowList);
      const refused = allowed ? undefined : addresses.find((a) => isPrivateAddress(a.address));
      const first = addresses[0];
      if (refused !== undefined || first === undefined) {
        callback(
          refused === undefined
            ? Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' })
            : new RefusedAddressError(hostname, refused.address),
          [],
        );
        return;
      }
      if (options.all === true) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}
