/**
 * Runs the CodeStore contract (test/contracts/code-store-contract.ts) against every code store
 * adapter: one line each.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { LocalCodeStore } from '../src/blobs/local-code-store.js';
import { codeStoreContract } from './contracts/code-store-contract.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-code-store-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;

codeStoreContract('local file system', async () => new LocalCodeStore(path.join(tmp, `code-${counter++}`)));
