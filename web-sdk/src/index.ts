// Public entry of @custos/web-sdk: the client for passkey ceremonies on Custos operations.
export { createCustos } from './client.js';
export type { ApproveOptions, CustosClient, CustosOptions, NumberMatchOptions, RegisterOptions } from './client.js';
export type { FetchLike } from './http.js';
export { CustosError } from './errors.js';
export type { CustosErrorCode } from './errors.js';
export { generateDeviceKeyPair } from './device-key.js';
export type { DeviceKeyJwk } from './device-key.js';
export type {
  ApproveResult,
  CeremonyResult,
  ConfirmationDetails,
  Money,
  OperationContext,
  OperationDetails,
  OperationRef,
  OperationStatus,
  OperationType,
  Payee,
  ProblemDetails,
  RegisterResult,
  RejectResult,
  SignedDocument,
  Transaction,
} from './types.js';
