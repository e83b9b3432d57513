/**
 * The messages of InvokeWithResponseStream's `application/vnd.amazon.eventstream` body, encoded by
 * the AWS SDK's own event-stream codec (prelude with total and headers length, prelude CRC32,
 * headers, payload, message CRC32): `PayloadChunk` events carrying the function's bytes, then one
 * `InvokeComplete` event.
 */
import { EventStreamCodec } from '@smithy/core/event-streams';
import { fromUtf8, toUtf8 } from '@smithy/core/serde';

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** What the last event says: how the call ended, and the log's tail when asked for. */
export interface InvokeComplete {
  ErrorCode?: string | undefined;
  ErrorDetails?: string | undefined;
  LogResult?: string | undefined;
}

function eventMessage(eventType: string, contentType: string, body: Uint8Array): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: contentType },
      ':message-type': { type: 'string', value: 'event' },
    },
    body,
  });
}

/** A `PayloadChunk` event: the next bytes of the function's response. */
export function payloadChunkMessage(payload: Uint8Array): Uint8Array {
  return eventMessage('PayloadChunk', 'application/octet-stream', payload);
}

/** The `InvokeComplete` event that ends the stream (fields left out when undefined). */
export function invokeCompleteMessage(complete: InvokeComplete): Uint8Array {
  return eventMessage('InvokeComplete', 'application/json', Buffer.from(JSON.stringify(complete), 'utf8'));
}
