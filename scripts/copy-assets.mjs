// Copies non-TypeScript runtime assets (the Python bootstrap) next to the compiled output, and makes
// the CLI executable.
import { chmodSync, cpSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'src/runtimes/python');
const to = join(root, 'dist/src/runtimes/python');
mkdirSync(to, { recursive: true });
cpSync(from, to, { recursive: true, filter: (p) => !p.includes('__pycache__') });

// The `nimbus` command is run by path (`npx nimbus`, the package's bin): tsc writes it without the
// executable bit, and on a fresh `npm ci` the bin is linked before this build creates the file.
chmodSync(join(root, 'dist/src/cli/main.js'), 0o755);
