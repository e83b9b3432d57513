/**
 * README's shell blocks as a test runs them: every ```sh, ```bash, ```shell and ```console block, in
 * order, each with the heading it sits under and its skip marker, if any. A block a test cannot run
 * (it installs, starts a second server, or runs until Ctrl-C) is preceded by
 * `<!-- readme-test: skip (the reason) -->`; a marker without a reason is an error here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './harness.js';

export interface ReadmeShellBlock {
  /** 1-based line number of the opening fence in README.md. */
  line: number;
  /** The nearest heading above the block, e.g. `## Quickstart`. */
  heading: string;
  /** The commands, as a user pastes them (for ```console blocks: the `$ ` lines, prompt removed). */
  code: string;
  /** Why the test does not run this block; undefined for a block that must run. */
  skip: string | undefined;
}

const SHELL_FENCE = /^```(sh|bash|shell|console)\s*$/;
const SKIP_MARKER = /^<!--\s*readme-test:\s*skip\b(.*?)-->\s*$/;

/** The shell blocks of README.md (or of `text`), in the order they appear. */
export function readmeShellBlocks(
  text = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'),
): ReadmeShellBlock[] {
  const lines = text.split('\n');
  const blocks: ReadmeShellBlock[] = [];
  let heading = '(top)';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^#{1,6} /.test(line)) heading = line.trim();
    if (!line.startsWith('```')) continue;
    const fence = SHELL_FENCE.exec(line);
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    if (end < 0) throw new Error(`README.md:${i + 1}: code block is never closed`);
    if (fence) {
      const body = lines.slice(i + 1, end);
      const code =
        fence[1] === 'console' ? body.filter((l) => l.startsWith('$ ')).map((l) => l.slice(2)) : body;
      blocks.push({ line: i + 1, heading, code: code.join('\n'), skip: skipReason(lines[i - 1], i) });
    }
    i = end;
  }
  return blocks;
}

/** The reason of a skip marker on `previous`, the line right above a block's fence. */
function skipReason(previous: string | undefined, fenceIndex: number): string | undefined {
  const marker = previous === undefined ? null : SKIP_MARKER.exec(previous.trim());
  if (!marker) return undefined;
  const reason = /^\s*\((.+)\)\s*$/.exec(marker[1]!)?.[1]?.trim();
  if (!reason) {
    throw new Error(
      `README.md:${fenceIndex}: a readme-test skip marker needs its reason: <!-- readme-test: skip (why) -->`,
    );
  }
  return reason;
}
