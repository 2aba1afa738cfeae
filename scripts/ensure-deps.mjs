// Runs before `npm test` and `npm run demo` (pretest/predemo): on a fresh clone, installs the npm
// packages from package-lock.json, so the two commands work without a separate `npm ci`. Plain
// JavaScript on purpose: it runs on whatever Node the machine has, before the project's Node 22 is there.
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const installed = 'node_modules/.package-lock.json';
const stale = !existsSync(installed) || statSync('package-lock.json').mtimeMs > statSync(installed).mtimeMs;
if (stale) {
  console.error('[hello-fleet] installing npm packages (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}
