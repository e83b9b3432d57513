/**
 * A server-wide bound on the request bodies being read at once, so concurrent large uploads (code
 * zips, 6 MB events) cannot grow the server without limit. A body above LARGE_BODY_BYTES (by its
 * content-length; a chunked body of unknown length counts as its route's limit) is admitted only
 * while the admitted bytes in flight stay within the cap (`--max-inflight-body-mb`; a body alone
 * is always admitted, so memory stays within the cap or one route's limit); otherwise the
 * caller answers 503 with `Retry-After: 1` without reading it. Admitted bytes are given back when
 * the response closes (finished or aborted). Every door takes bodies through it after its
 * credential checks and before the first body byte: the fastify routes (a preParsing hook), the
 * invoke front door and HTTP triggers. Small bodies cost one comparison.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NimbusError } from '../core/errors.js';

/** Bodies up to this size are always admitted (and not counted). */
export const LARGE_BODY_BYTES = 1024 * 1024;
/** How long a refused client should wait before trying again, in seconds. */
export const RETRY_AFTER_SEC = 1;

export class BodyBudget {
  private inFlightBytes = 0;

  constructor(readonly capBytes: number) {}

  /** Bytes of admitted bodies whose responses have not closed yet. */
  get inFlight(): number {
    return this.inFlightBytes;
  }

  /**
   * Whether the request's body may be read now. `limitBytes` is the most its route reads (the
   * charge of a chunked body, and of one declaring more, which the route then refuses with 413).
   * When admitted, the charge is given back when `res` closes.
   */
  admit(req: IncomingMessage, res: ServerResponse, limitBytes: number): boolean {
    const declared = req.headers['content-length'];
    const size =
      declared !== undefined
        ? Number(declared)
        : req.headers['transfer-encoding'] !== undefined
          ? limitBytes
          : 0;
    if (!(size > LARGE_BODY_BYTES)) return true;
    const charge = Math.min(size, limitBytes);
    // One body is always admitted alone, so a cap below a route's limit does not shut the route.
    if (this.inFlightBytes > 0 && this.inFlightBytes + charge > this.capBytes) return false;
    this.inFlightBytes += charge;
    res.once('close', () => (this.inFlightBytes -= charge));
    return true;
  }

  /** The error a refused request gets (503; send it with `Retry-After` and close the connection). */
  refusal(): NimbusError {
    return new NimbusError(
      'SERVER_BUSY',
      `the server is reading ${Math.round(this.capBytes / 1024 / 1024)} MB of large request bodies at once, its limit (--max-inflight-body-mb); retry in ${RETRY_AFTER_SEC} s`,
    );
  }
}
