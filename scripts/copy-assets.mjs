// Copies non-TypeScript runtime assets (the Python bootstrap) next to the compiled output.
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'src/runtimes/python');
const to = join(root, 'dist/src/runtimes/python');
mkdirSync(to, { recursive: true });
cpSync(from, to, { recursive: true, filter: (p) => !p.includes('__pycache__') });
