/**
 * A short, human description of a User-Agent ("Chrome on Linux"), for the list of signed-in
 * devices. It only helps a user recognise their own logins; nothing is decided by it (a
 * client can send any User-Agent it likes).
 */
export const USER_AGENT_MAX_LENGTH = 256;

const BROWSERS: ReadonlyArray<[RegExp, string]> = [
  [/Edg(e|A|iOS)?\//, 'Edge'],
  [/OPR\/|Opera/, 'Opera'],
  [/Firefox\/|FxiOS\//, 'Firefox'],
  [/Chrome\/|Chromium\/|CriOS\//, 'Chrome'],
  [/Safari\//, 'Safari'],
  [/^curl\//, 'curl'],
  [/^node|undici/i, 'a Node.js program'],
];

const SYSTEMS: ReadonlyArray<[RegExp, string]> = [
  [/iPhone|iPad|iPod/, 'iOS'],
  [/Android/, 'Android'],
  [/Windows/, 'Windows'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/CrOS/, 'ChromeOS'],
  [/Linux/, 'Linux'],
];

export function describeUserAgent(userAgent: string | null): string {
  if (userAgent === null || userAgent.trim() === '') return 'Unknown device';
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent))?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser !== undefined && system !== undefined) return `${browser} on ${system}`;
  return browser ?? system ?? 'Unknown device';
}

/** The User-Agent as stored: bounded, so a client cannot fill the table with one header. */
export function storedUserAgent(userAgent: string | undefined): string | null {
  if (userAgent === undefined || userAgent === '') return null;
  return userAgent.slice(0, USER_AGENT_MAX_LENGTH);
}
