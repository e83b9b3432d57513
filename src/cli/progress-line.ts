/**
 * A single status line on stderr that rewrites itself, for long local work (packing, uploading).
 * It must never write escape codes to something that is not a terminal: there it stays silent and
 * only the summary lines are written, so logs and CI output stay clean.
 */

const MIN_INTERVAL_MS = 80;

export class ProgressLine {
  private lastDraw = 0;
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  get live(): boolean {
    return this.stream.isTTY === true;
  }

  /** Redraws the line; throttled unless `force`, since packing reports every file. */
  update(text: string, force = false): void {
    if (!this.live) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < MIN_INTERVAL_MS) return;
    this.lastDraw = now;
    this.stream.write(`\r\x1b[2K${text}`);
    this.shown = true;
  }

  /** Clears the live line and writes `text` as a permanent line (in every mode). */
  summary(text: string): void {
    this.clear();
    this.stream.write(`${text}\n`);
  }

  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}
