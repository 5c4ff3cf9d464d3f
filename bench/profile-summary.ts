/**
 * Summarises a V8 CPU profile (`node --cpu-prof` writes one per process on exit).
 *
 *   node bench/profile-summary.ts path/to/file.cpuprofile [--top 25] [--skip-ms 0]
 *
 * Two views: the functions with the most self time, and self time attributed to the
 * nearest frame that belongs to the project or to a package, so a native call or a Node
 * internal is charged to whoever made it (`crypto.verify` to jose, a socket write to
 * fastify), which is what answers "which part of the stack costs what".
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  /** Samples of the first milliseconds (start-up, seeding checks) left out. */
  skippedMs: number;
  /** Wall time the profile covers and the part of it the process was not idle. */
  wallMs: number;
  busyMs: number;
  functions: Array<{ name: string; location: string; selfMs: number; share: number }>;
  owners: Array<{ owner: string; selfMs: number; share: number }>;
}

const PROJECT_ROOT = path.resolve(import.meta.dirname, '..');
const SPECIAL = new Set(['(garbage collector)', '(program)', '(idle)', '(root)']);

function shortUrl(url: string): string {
  if (url === '') return '';
  let file = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const modules = file.lastIndexOf('/node_modules/');
  if (modules !== -1) return file.slice(modules + '/node_modules/'.length);
  if (file.startsWith(`${PROJECT_ROOT}/`)) file = file.slice(PROJECT_ROOT.length + 1);
  return file;
}

/** The package (`fastify`, `@fastify/ajv-compiler`) or project file a frame belongs to. */
function ownerOf(frame: CallFrame): string | null {
  // The root is where a walk ends without an owner: Node internals with no caller of ours.
  if (frame.functionName === '(root)' && frame.url === '') return null;
  if (SPECIAL.has(frame.functionName) && frame.url === '') return frame.functionName;
  const url = frame.url;
  if (url === '' || url.startsWith('node:')) return null;
  const file = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const modules = file.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const parts = file.slice(modules + '/node_modules/'.length).split('/');
    const name = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
    return name ?? file;
  }
  return shortUrl(url);
}

export function summariseProfile(file: string, top = 25, skipMs = 0): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  }
  // A sample lasts until the next one (how DevTools reads timeDeltas), in microseconds.
  // Samples before `skipMs` (module loading, migrations, warm-up) are left out.
  const selfUs = new Map<number, number>();
  const fromUs = profile.startTime + skipMs * 1000;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const id = profile.samples[i];
    const duration = profile.timeDeltas[i + 1] ?? 0;
    if (id !== undefined && at >= fromUs) selfUs.set(id, (selfUs.get(id) ?? 0) + duration);
  }

  const functions = new Map<string, { name: string; location: string; us: number }>();
  const owners = new Map<string, number>();
  const ownerCache = new Map<number, string>();
  const attributed = (id: number): string => {
    const cached = ownerCache.get(id);
    if (cached !== undefined) return cached;
    // Walk towards the root until a frame of the project or a package is found (bounded
    // by the number of nodes, so a malformed profile cannot loop forever).
    let current: number | undefined = id;
    let owner = '(node internals)';
    for (let steps = 0; current !== undefined && steps < profile.nodes.length; steps++) {
      const node = byId.get(current);
      if (node === undefined) break;
      const found = ownerOf(node.callFrame);
      if (found !== null) {
        owner = found;
        break;
      }
      current = parentOf.get(current);
    }
    ownerCache.set(id, owner);
    return owner;
  };

  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idleUs += us;
    const name = functionName === '' ? '(anonymous)' : functionName;
    const location = url === '' ? '' : `${shortUrl(url)}:${lineNumber + 1}`;
    const key = `${name}\u0000${location}`;
    const entry = functions.get(key) ?? { name, location, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const owner = attributed(id);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const share = (us: number) => Number(((100 * us) / Math.max(1, busyUs)).toFixed(1));
  return {
    file,
    skippedMs: Math.round(skipMs),
    wallMs: Math.round((profile.endTime - Math.max(profile.startTime, fromUs)) / 1000),
    busyMs: Math.round(busyUs / 1000),
    functions: [...functions.values()]
      .filter((f) => f.name !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({
        name: f.name,
        location: f.location,
        selfMs: Math.round(f.us / 1000),
        share: share(f.us),
      })),
    owners: [...owners.entries()]
      .filter(([owner]) => owner !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([owner, us]) => ({ owner, selfMs: Math.round(us / 1000), share: share(us) })),
  };
}

/** A plain-text rendering, for the terminal. */
export function formatSummary(summary: ProfileSummary): string {
  const lines = [
    `${summary.file}: ${summary.wallMs} ms wall after skipping the first ${summary.skippedMs} ms, ${summary.busyMs} ms busy (not idle)`,
    '',
    'self time by owner (native and Node internals charged to their caller):',
    ...summary.owners.map(
      (o) => `  ${o.share.toFixed(1).padStart(5)}%  ${String(o.selfMs).padStart(7)} ms  ${o.owner}`,
    ),
    '',
    'top functions by self time:',
    ...summary.functions.map(
      (f) =>
        `  ${f.share.toFixed(1).padStart(5)}%  ${String(f.selfMs).padStart(7)} ms  ${f.name}  ${f.location}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    options: {
      top: { type: 'string', default: '25' },
      'skip-ms': { type: 'string', default: '0' },
    },
    allowPositionals: true,
  });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write('usage: node bench/profile-summary.ts <file.cpuprofile> [--top N]\n');
    process.exit(2);
  }
  process.stdout.write(
    formatSummary(summariseProfile(file, Number(values.top), Number(values['skip-ms']))),
  );
}
