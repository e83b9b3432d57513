/**
 * Writes a streamed response to its HTTP client at the client's pace: each piece's `written`
 * callback runs once the response has taken it (at once, or on `drain`), which is when the host
 * acknowledges it to the runtime, so a slow client slows the function instead of filling memory.
 */
import type { ServerResponse } from 'node:http';

/** Returns `write(data, written)` for `res`. */
export function pacedWriter(res: ServerResponse): (data: Uint8Array, written: () => void) => void {
  const waiting: (() => void)[] = [];
  const drained = () => {
    for (const written of waiting.splice(0)) written();
  };
  return (data, written) => {
    if (res.write(data)) written();
    else {
      if (waiting.length === 0) res.once('drain', drained);
      waiting.push(written);
    }
  };
}
