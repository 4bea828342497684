// OperationDO: one Durable Object per operation owns its state machine, challenge, attempts and expiry.
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../env';

export class OperationDO extends DurableObject<Bindings> {
  async cancel(input: { reason: string; tenantId: string }): Promise<null> {
    void input;
    return null;
  }
}
