// The operation state machine, checked over every pair of statuses.
import { describe, expect, it } from 'vitest';
import {
  ALLOWED_TRANSITIONS,
  FINAL_STATUSES,
  IllegalTransition,
  OPERATION_STATUSES,
  OPERATION_TYPES,
  type OperationStatus,
  canTransition,
  isFinal,
  isOperationStatus,
  isOperationType,
  transition,
} from '../../src/domain/operation-state';

// The contract of API.md, written out independently of the module's table.
const expectedAllowed = new Set<string>([
  'PENDING>IN_PROGRESS',
  'PENDING>COMPLETED',
  'PENDING>REJECTED',
  'PENDING>FAILED',
  'PENDING>CANCELLED',
  'PENDING>EXPIRED',
  'IN_PROGRESS>COMPLETED',
  'IN_PROGRESS>REJECTED',
  'IN_PROGRESS>FAILED',
  'IN_PROGRESS>CANCELLED',
  'IN_PROGRESS>EXPIRED',
]);

describe('operation statuses and types', () => {
  it('API.md: seven statuses, five of them final', () => {
    expect([...OPERATION_STATUSES]).toEqual(['PENDING', 'IN_PROGRESS', 'COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED']);
    expect([...FINAL_STATUSES].sort()).toEqual(['CANCELLED', 'COMPLETED', 'EXPIRED', 'FAILED', 'REJECTED']);
    expect(OPERATION_STATUSES.filter(isFinal)).toEqual([...FINAL_STATUSES]);
    expect(isFinal('PENDING')).toBe(false);
    expect(isFinal('IN_PROGRESS')).toBe(false);
  });

  it('API.md: four operation types', () => {
    expect([...OPERATION_TYPES]).toEqual(['REGISTRATION', 'AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE']);
    expect(isOperationType('AUTHORISATION')).toBe(true);
    expect(isOperationType('AUTHORIZATION')).toBe(false);
    expect(isOperationType('authentication')).toBe(false);
  });

  it('status guard accepts only the seven names', () => {
    for (const status of OPERATION_STATUSES) expect(isOperationStatus(status)).toBe(true);
    expect(isOperationStatus('DONE')).toBe(false);
    expect(isOperationStatus('pending')).toBe(false);
    expect(isOperationStatus(undefined)).toBe(false);
  });
});

describe('transition: every pair of statuses', () => {
  for (const from of OPERATION_STATUSES) {
    for (const to of OPERATION_STATUSES) {
      const allowed = expectedAllowed.has(`${from}>${to}`);
      const rule = isFinal(from) ? 'API.md: a final state never changes' : 'API.md: PENDING → IN_PROGRESS → one final state';
      it(`${rule}: ${from} → ${to} is ${allowed ? 'allowed' : 'illegal'}`, () => {
        expect(canTransition(from, to)).toBe(allowed);
        expect(ALLOWED_TRANSITIONS[from].includes(to)).toBe(allowed);
        if (allowed) {
          expect(transition(from, to)).toBe(to);
        } else {
          let thrown: unknown;
          try {
            transition(from, to);
          } catch (error) {
            thrown = error;
          }
          expect(thrown).toBeInstanceOf(IllegalTransition);
          expect(thrown).toBeInstanceOf(Error);
          expect(thrown).toMatchObject({ name: 'IllegalTransition', from, to });
        }
      });
    }
  }

  it('the table is frozen: nobody can add a way out of a final state at run time', () => {
    expect(Object.isFrozen(ALLOWED_TRANSITIONS)).toBe(true);
    expect(Object.isFrozen(ALLOWED_TRANSITIONS.COMPLETED)).toBe(true);
    expect(() => (ALLOWED_TRANSITIONS.COMPLETED as OperationStatus[]).push('PENDING')).toThrow(TypeError);
  });

  it('an unknown status read from storage allows nothing', () => {
    expect(canTransition('DONE' as OperationStatus, 'COMPLETED')).toBe(false);
    expect(() => transition('DONE' as OperationStatus, 'COMPLETED')).toThrow(IllegalTransition);
  });
});
