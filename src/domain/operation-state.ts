// The operation life cycle: statuses, types and the only transitions the state machine allows.

export const OPERATION_TYPES = ['REGISTRATION', 'AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE'] as const;
export type OperationType = (typeof OPERATION_TYPES)[number];

export const OPERATION_STATUSES = [
  'PENDING',
  'IN_PROGRESS',
  'COMPLETED',
  'REJECTED',
  'FAILED',
  'CANCELLED',
  'EXPIRED',
] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

export const FINAL_STATUSES = ['COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/**
 * Every allowed move. A status never moves to itself: a second device fetching an IN_PROGRESS
 * broadcast, or a second finish, is the caller's decision, not a silent no-op here.
 */
export const ALLOWED_TRANSITIONS: Readonly<Record<OperationStatus, readonly OperationStatus[]>> = Object.freeze({
  PENDING: Object.freeze<OperationStatus[]>(['IN_PROGRESS', 'COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED']),
  IN_PROGRESS: Object.freeze<OperationStatus[]>(['COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED']),
  // API contract: a final state never changes.
  COMPLETED: Object.freeze<OperationStatus[]>([]),
  REJECTED: Object.freeze<OperationStatus[]>([]),
  FAILED: Object.freeze<OperationStatus[]>([]),
  CANCELLED: Object.freeze<OperationStatus[]>([]),
  EXPIRED: Object.freeze<OperationStatus[]>([]),
});

/** Thrown by `transition` for a move the table does not allow. */
export class IllegalTransition extends Error {
  override readonly name = 'IllegalTransition';
  readonly from: OperationStatus;
  readonly to: OperationStatus;

  constructor(from: OperationStatus, to: OperationStatus) {
    super(`operation cannot go from ${from} to ${to}`);
    this.from = from;
    this.to = to;
  }
}

export function isOperationType(value: unknown): value is OperationType {
  return typeof value === 'string' && (OPERATION_TYPES as readonly string[]).includes(value);
}

export function isOperationStatus(value: unknown): value is OperationStatus {
  return typeof value === 'string' && (OPERATION_STATUSES as readonly string[]).includes(value);
}

export function isFinal(status: OperationStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

export function canTransition(from: OperationStatus, to: OperationStatus): boolean {
  // A status read back from storage is only typed, not checked: an unknown one allows nothing.
  if (!isOperationStatus(from)) return false;
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/** Returns `to` when the move is allowed, else throws IllegalTransition. */
export function transition(from: OperationStatus, to: OperationStatus): OperationStatus {
  if (!canTransition(from, to)) throw new IllegalTransition(from, to);
  return to;
}
