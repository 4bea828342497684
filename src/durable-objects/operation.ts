// OperationDO: a shard of live operations. Each operation (state machine, challenge, attempts, expiry) lives in exactly one shard, chosen by its id.
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../env';
import type { OperationStatus } from '../domain/operation-state';
import type { OperationView } from '../schemas/operations';
import type { Caller, DoResult, FinalState, FinishInput, FinishView, OperationSnapshot, RpScope, SdkStartView } from '../domain/operation';
import { ShardStore } from '../storage/shard-store';
import { Operation } from './operation-machine';
import type { OperationHost } from './operation-machine';

// Where routes and tests import them from today.
export type { Caller, DoResult, FinishInput, OperationSnapshot, RpScope, SdkStartView } from '../domain/operation';
export { boundOf, finishDigestOf } from '../domain/operation';
export { changingPart, fixedPart, snapshotOfRow } from '../storage/shard-store';

/**
 * How many OperationDO shards hold the operations. Fixed: an operation's shard is a function of its
 * id, so changing this number would strand the live operations of the old layout.
 * Why shards and not one object per operation: creating a Durable Object (and its storage) is the
 * most expensive step of a ceremony — ~5 ms of CPU under workerd, more than everything else
 * together (bench/README.md) — while a shard is created once and then serves every operation routed
 * to it. Each shard still serialises what happens to one operation (single use, one finish), and
 * 128 shards spread a login peak far beyond what one object could take.
 */
export const OPERATION_SHARDS = 128;

/** The shard that owns an operation: FNV-1a of its id. */
export function shardOf(operationId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < operationId.length; i++) {
    hash ^= operationId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % OPERATION_SHARDS;
}

export function shardStub(env: Pick<Bindings, 'OPERATIONS'>, operationId: string): DurableObjectStub<OperationDO> {
  return env.OPERATIONS.get(env.OPERATIONS.idFromName(`shard-${shardOf(operationId)}`));
}

/** One operation's calls, routed to its shard (the Worker side never deals with shards). */
export function operationStub(env: Pick<Bindings, 'OPERATIONS'>, operationId: string) {
  const shard = shardStub(env, operationId);
  return {
    begin: (snapshot: OperationSnapshot) => shard.begin(operationId, snapshot),
    status: (input: { tenantId: string; waitSeconds?: number }) => shard.status(operationId, input),
    summary: (input: { deviceId: string }) => shard.summary(operationId, input),
    sdkStart: (input: { caller: Caller; rpScope?: RpScope; native?: boolean }) => shard.sdkStart(operationId, input),
    sdkFinish: (input: { caller: Caller; body: FinishInput }) => shard.sdkFinish(operationId, input),
    sdkReject: (input: { caller: Caller; native?: boolean }) => shard.sdkReject(operationId, input),
    cancel: (input: { tenantId: string; reason: string; actor?: string }) => shard.cancel(operationId, input),
    notified: (input: { notifications: NonNullable<OperationSnapshot['notifications']> }) => shard.notified(operationId, input),
  };
}

/** Operations kept in memory per shard before idle ones are dropped (their stored state stays). */
const MAX_CACHED = 2000;
/** An alarm that could not settle an operation (it was finishing) looks at it again this much later. */
const RETRY_MS = 5000;

/**
 * A shard: the Durable Object that hosts many operations. State is one row per operation in the
 * object's SQLite (`ops`), with `due_at` = the operation's next timer; the object's single alarm is
 * kept at the earliest `due_at`, and firing runs every operation that is due.
 */
export class OperationDO extends DurableObject<Bindings> implements OperationHost {
  private readonly operations = new Map<string, Operation>();
  /** Finish requests this incarnation answered (operation id + digest), newest last; bounded like the cache. */
  private readonly answered = new Set<string>();
  /** The alarm as last set or seen (null: none). */
  private alarmAt: number | null = null;
  private readonly store: ShardStore;

  constructor(ctx: DurableObjectState, env: Bindings) {
    // bench/worker subclasses this with counting bindings; production passes its own straight through.
    super(ctx, env);
    this.store = new ShardStore(ctx.storage.sql);
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  private operation(operationId: string): Operation {
    let operation = this.operations.get(operationId);
    if (operation) {
      // Most recently used last, so the oldest idle copies go first.
      this.operations.delete(operationId);
      this.operations.set(operationId, operation);
      return operation;
    }
    operation = new Operation(this, this.env, operationId);
    this.operations.set(operationId, operation);
    if (this.operations.size > MAX_CACHED) {
      for (const [id, cached] of this.operations) {
        if (this.operations.size <= MAX_CACHED * 0.75) break;
        if (cached.idle && id !== operationId) this.operations.delete(id);
      }
    }
    return operation;
  }

  answeredHere(operationId: string, digest: string): boolean {
    return this.answered.has(`${operationId}:${digest}`);
  }

  markAnswered(operationId: string, digest: string): void {
    this.answered.add(`${operationId}:${digest}`);
    // A forgotten entry only means one more replay of an answer already given: harmless, so a plain cap suffices.
    if (this.answered.size > MAX_CACHED) this.answered.delete(this.answered.values().next().value!);
  }

  read(operationId: string): OperationSnapshot | null {
    return this.store.read(operationId);
  }

  writeIntent(operationId: string, intent: FinalState): void {
    this.store.writeIntent(operationId, intent);
  }

  /** Saves the operation and clears its intent (storage/shard-store.ts: only the changing part once the row exists). */
  write(operationId: string, op: OperationSnapshot): void {
    this.store.write(operationId, op);
  }

  async schedule(operationId: string, at: number): Promise<void> {
    this.store.setDue(operationId, at);
    if (this.alarmAt === null || at < this.alarmAt) {
      this.alarmAt = at;
      await this.ctx.storage.setAlarm(at);
    }
  }

  forget(operationId: string): void {
    this.store.delete(operationId);
    this.operations.delete(operationId);
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    for (const id of this.store.due(now, 500)) {
      try {
        await this.run(id, (op) => op.alarm());
      } catch (error) {
        console.error(JSON.stringify({ msg: 'operation alarm failed', operationId: id, error: error instanceof Error ? error.message : String(error) }));
      }
      // Whatever did not move its timer (a finish in flight, a failure above) is looked at again soon.
      this.store.postponeIfStillDue(id, now, now + RETRY_MS);
    }
    const next = this.store.earliestDue();
    if (next !== null && (this.alarmAt === null || next < this.alarmAt)) {
      this.alarmAt = next;
      await this.ctx.storage.setAlarm(next);
    }
  }

  /** Runs one call on an operation; the object stays cached (not evicted) until the call ends. */
  private async run<T>(operationId: string, call: (operation: Operation) => Promise<T>): Promise<T> {
    const operation = this.operation(operationId);
    operation.calls++;
    try {
      return await call(operation);
    } finally {
      operation.calls--;
    }
  }

  begin(operationId: string, snapshot: OperationSnapshot): Promise<OperationView> {
    if (snapshot.id !== operationId) throw new Error('snapshot of another operation');
    return this.run(operationId, (op) => op.begin(snapshot));
  }

  status(operationId: string, input: { tenantId: string; waitSeconds?: number }): Promise<OperationView | null> {
    return this.run(operationId, (op) => op.status(input));
  }

  summary(operationId: string, input: { deviceId: string }): Promise<OperationView | null> {
    return this.run(operationId, (op) => op.summary(input));
  }

  sdkStart(operationId: string, input: { caller: Caller; rpScope?: RpScope; native?: boolean }): Promise<DoResult<SdkStartView>> {
    return this.run(operationId, (op) => op.sdkStart(input));
  }

  sdkFinish(operationId: string, input: { caller: Caller; body: FinishInput }): Promise<DoResult<FinishView>> {
    return this.run(operationId, (op) => op.sdkFinish(input));
  }

  sdkReject(operationId: string, input: { caller: Caller; native?: boolean }): Promise<DoResult<{ status: OperationStatus }>> {
    return this.run(operationId, (op) => op.sdkReject(input));
  }

  cancel(operationId: string, input: { tenantId: string; reason: string; actor?: string }): Promise<DoResult<OperationView>> {
    return this.run(operationId, (op) => op.cancel(input));
  }

  notified(operationId: string, input: { notifications: NonNullable<OperationSnapshot['notifications']> }): Promise<void> {
    return this.run(operationId, (op) => op.notified(input));
  }
}
