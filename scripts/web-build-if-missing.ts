/**
 * Runs before `npm start`: builds the web dashboard when there is no build yet, so the
 * README's start command serves the dashboard on a fresh clone. An existing build is kept
 * (run `npm run web:build` after changing web/ or the API).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const index = path.resolve(import.meta.dirname, '..', 'web', 'dist', 'index.html');
if (!fs.existsSync(index)) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['run', 'web:build'], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
