/**
 * Turns a streamed NDJSON body into parsed values as the bytes arrive, so a follow stream is printed
 * line by line and can run for hours. It must never wait for the end of the stream before yielding.
 * Blank lines are skipped: servers may send them as keep-alive heartbeats.
 */

export class MalformedLineError extends Error {
  constructor(readonly line: string) {
    super(`received a line that is not JSON: ${line.length > 200 ? `${line.slice(0, 200)}…` : line}`);
    this.name = 'MalformedLineError';
  }
}

export async function* readNdjson(body: AsyncIterable<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true });
    let start = 0;
    let newline: number;
    while ((newline = pending.indexOf('\n', start)) >= 0) {
      const line = pending.slice(start, newline).trim();
      start = newline + 1;
      if (line) yield parse(line);
    }
    pending = pending.slice(start);
  }
  pending += decoder.decode();
  if (pending.trim()) yield parse(pending.trim());
}

function parse(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new MalformedLineError(line);
  }
}
