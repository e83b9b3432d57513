/** The CLI's calls on dead letters (/v1/dead-letters): list, get, replay, delete. */
import type { DeadLetter } from '../../core/ports.js';
import type { ExecutionFilter } from './executions.js';
import type { Transport } from './transport.js';

/** A dead letter as the API shows it: the event is parsed JSON. */
export type DeadLetterView = Omit<DeadLetter, 'payload'> & { payload: unknown };

function deadLetterPath(id: string): string {
  return `/v1/dead-letters/${encodeURIComponent(id)}`;
}

export class DeadLettersApi {
  constructor(private readonly http: Transport) {}

  async list(filter: ExecutionFilter = {}): Promise<{ deadLetters: DeadLetterView[] }> {
    const query = { function: filter.functionName, limit: filter.limit };
    const body = await this.http.json<{ deadLetters?: unknown }>(
      await this.http.call('GET', '/v1/dead-letters', { query }),
    );
    return { ...body, deadLetters: this.http.array(body.deadLetters, 'deadLetters') };
  }

  async get(id: string): Promise<DeadLetterView> {
    return this.http.json(await this.http.call('GET', deadLetterPath(id)));
  }

  async replay(id: string): Promise<{ executionId: string }> {
    return this.http.json(
      await this.http.call('POST', `${deadLetterPath(id)}/replay`, {
        headers: { 'x-nimbus-trigger': 'cli' },
      }),
    );
  }

  async delete(id: string): Promise<void> {
    await this.http.drain(await this.http.call('DELETE', deadLetterPath(id)));
  }
}
