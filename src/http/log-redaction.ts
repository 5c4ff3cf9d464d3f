/**
 * Credentials never reach the logs, whatever a log line includes (issue #17 made this cheap).
 *
 * pino's `redact` option did this with wildcard paths (`*.password`, ...), which cloned and
 * walked every field of every line: with request logging at `info` (two lines per request)
 * that was a tenth of the CPU of a request. This is the same rule as a pino `formatters.log`
 * hook, which sees each line's fields before they are serialised, and copies only what it
 * censors (which is almost never):
 * - a field whose name is a credential, at the top of the line or one level below it (what
 *   `*.password` matched, plus the top level, which the wildcard did not);
 * - `req.headers.authorization` and `req.headers.cookie`.
 * The caller's objects are never changed: a censored object is a copy with the same
 * prototype and properties (an Error stays an Error, with its message and stack).
 */
export const CENSOR = '[redacted]';

export const SECRET_FIELDS: readonly string[] = [
  'password',
  'currentPassword',
  'newPassword',
  'pin',
  'refreshToken',
  'accessToken',
  'token',
  'otp',
  'code',
];

const SECRET_HEADERS: readonly string[] = ['authorization', 'cookie'];

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null;
}

function hasAny(value: Fields, names: readonly string[]): boolean {
  for (const name of names) if (Object.hasOwn(value, name)) return true;
  return false;
}

/** A copy of `value` (same prototype, same own properties) with `names` censored. */
function censored(value: Fields, names: readonly string[]): Fields {
  const descriptors = Object.getOwnPropertyDescriptors(value);
  for (const [name, descriptor] of Object.entries(descriptors)) {
    // Accessors are read from the original (V8's Error#stack is one, bound to its object).
    if (descriptor.get !== undefined || descriptor.set !== undefined) {
      descriptors[name] = {
        value: value[name],
        enumerable: descriptor.enumerable ?? false,
        writable: true,
        configurable: true,
      };
    }
  }
  const copy = Object.create(Object.getPrototypeOf(value), descriptors) as Fields;
  for (const name of names) {
    if (Object.hasOwn(copy, name)) {
      Object.defineProperty(copy, name, {
        value: CENSOR,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return copy;
}

function censorRequest(req: unknown): unknown {
  if (!isObject(req)) return req;
  let out = hasAny(req, SECRET_FIELDS) ? censored(req, SECRET_FIELDS) : req;
  // Only a plain object's own headers: Fastify's request computes `headers` in a getter (a
  // copy per read), and its serializer (serializeRequest) never logs headers at all.
  const headers = Object.hasOwn(out, 'headers') ? out.headers : undefined;
  if (isObject(headers) && hasAny(headers, SECRET_HEADERS)) {
    if (out === req) out = censored(req, []);
    out.headers = censored(headers, SECRET_HEADERS);
  }
  return out;
}

/** The fields of one log line with every credential censored (see above). */
export function redactLogFields(fields: Fields): Fields {
  let out: Fields | null = null;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const value = fields[key];
    let replaced: unknown = value;
    if (SECRET_FIELDS.includes(key)) {
      replaced = CENSOR;
    } else if (key === 'req') {
      replaced = censorRequest(value);
    } else if (isObject(value) && hasAny(value, SECRET_FIELDS)) {
      replaced = censored(value, SECRET_FIELDS);
    }
    if (replaced !== value) {
      out ??= { ...fields };
      out[key] = replaced;
    }
  }
  return out ?? fields;
}
