import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JsonRpcErrorCode } from './jsonrpc.js';

/**
 * A session that will not be served (a limit is reached): its first request is answered with
 * `reason` as a JSON-RPC error, then the transport closes. The client learns why in its own terms.
 */
export async function refuseSession(transport: Transport, reason: string): Promise<void> {
  transport.onmessage = (message) => {
    const id = (message as { id?: unknown }).id;
    if (typeof id === 'string' || typeof id === 'number') {
      void transport.send({ jsonrpc: '2.0', id, error: { code: JsonRpcErrorCode.InternalError, message: reason } }).then(() => transport.close());
    }
  };
  await transport.start();
}
