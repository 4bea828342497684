// Public entry of @custos/node: the typed API client, webhook verification and result-token verification for a relying party's server.
export { createCustosClient, CustosAuthError } from './client.js';
export type { CustosClient, CustosClientOptions, CustosFetch } from './client.js';
export type { components, paths } from './schema.js';
export { verifyWebhook, WebhookVerificationError } from './webhooks.js';
export type {
  DeviceEventData,
  OperationEventData,
  UserEventData,
  VerifyWebhookOptions,
  WebhookBody,
  WebhookEvent,
  WebhookEventDataMap,
  WebhookEventOf,
  WebhookEventType,
  WebhookHeaders,
  WebhookVerificationReason,
} from './webhooks.js';
export { derToRaw, documentDigest, NATIVE_REQUEST_TYPE, RESULT_TOKEN_TYPE, ResultTokenError, verifyResultEvidence, verifyResultToken } from './result-token.js';
export type {
  NativeEvidence,
  PasskeyAssertionEvidence,
  PasskeyRegistrationEvidence,
  RelyingPartyScope,
  ResultEvidence,
  ResultOperationType,
  ResultTokenClaims,
  ResultTokenErrorReason,
  ResultTransaction,
  VerifyResultEvidenceOptions,
  VerifyResultTokenOptions,
} from './result-token.js';
