// Public entry of @custos/web-sdk: the client for passkey ceremonies on Custos operations.
export { createCustos } from './client.js';
export type { ApproveOptions, CustosClient, CustosOptions, NumberMatchOptions, RegisterOptions, StartOptions } from './client.js';
export { createDeviceProof } from './device-proof.js';
export type { DeviceCredential, DeviceProofOptions } from './device-proof.js';
export type { FetchLike } from './http.js';
export { CustosError, localhostUrlFor } from './errors.js';
export type { CustosErrorCode } from './errors.js';
export { generateDeviceKeyPair } from './device-key.js';
export { subscribeWebPush, toPushChannel, vapidKeyBytes } from './push.js';
export type { PushChannelInput } from './push.js';
export type { DeviceKeyJwk } from './device-key.js';
export type {
  ApnsChannel,
  ApproveResult,
  CeremonyResult,
  ConfirmationDetails,
  DeviceOperationRef,
  InlineStart,
  DocumentDigest,
  FcmChannel,
  Money,
  OperationClosedPush,
  OperationContext,
  OperationDetails,
  OperationPendingPush,
  OperationRef,
  OperationResult,
  OperationStatus,
  OperationType,
  Payee,
  PendingOperation,
  ProblemDetails,
  PushChannel,
  PushChannelResult,
  PushPayload,
  RegisterResult,
  RejectResult,
  RpScope,
  SignedDocument,
  Transaction,
  WebPushChannel,
} from './types.js';
