// npm's `prepare`: builds the checkout after `npm ci` / `npm install`. Skipped when `npx nimbus`
// runs in this checkout: npm then installs the checkout into its npx cache as a link, which runs
// `prepare` again inside the checkout, and a build there would rewrite dist/ under a running
// server or test suite (and cost half a minute) for nothing: the link points at this dist/.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (process.env.npm_command === 'exec' && existsSync(join(root, 'dist/src/cli/main.js'))) process.exit(0);
const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
process.exit(build.status ?? 1);
