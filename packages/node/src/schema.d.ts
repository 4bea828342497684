// Types of the Custos API, generated from docs/openapi.json by `npm run generate -w packages/node`; do not edit.
export interface paths {
    "/.well-known/jwks.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Public keys that sign result tokens
         * @description Every key of SIGNING_KEYS as a public JWK: the newest signs, older ones stay listed so tokens they signed still verify during a rotation. Match a token’s `kid` header (docs/verifying-tokens.md). Cacheable for 5 minutes.
         */
        get: operations["getJwks"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/v1/tenants": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List tenants
         * @description Every tenant of this deployment, oldest first, a page at a time.
         */
        get: operations["listTenants"];
        put?: never;
        /**
         * Create a tenant
         * @description A relying party: its WebAuthn rpId and origins, branding shown by the authenticator app, and policy (defaults: maxFailedAttempts 5, operationTtlSeconds 300, deviceBoundOnly false, requireScaForNewDevice true, maxLiveOperationsPerUser 5, maxLiveOperationsPerDevice 3, maxStartsPerUserPerMinute 10). Answers 201 with `Location`.
         */
        post: operations["createTenant"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/v1/tenants/{tenantId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a tenant
         * @description The tenant with its complete policy (defaults filled in) and its webhook endpoint, if one is set.
         */
        get: operations["getTenant"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Update a tenant (policy fields merge)
         * @description Fields given replace the stored ones; `branding` and `policy` merge field by field. A policy change applies to operations started afterwards: a live operation keeps the policy it started with.
         */
        patch: operations["updateTenant"];
        trace?: never;
    };
    "/admin/v1/tenants/{tenantId}/clients": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List a tenant's API clients
         * @description Every API client of the tenant, revoked ones included (with `revokedAt`); never their secrets.
         */
        get: operations["listApiClients"];
        put?: never;
        /**
         * Create an API client (the secret is shown only here)
         * @description OAuth client credentials for the relying party’s server, with the scopes given (default all four: users, devices, operations, audit). The secret is stored only as a hash and shown only in this response. The optional `ciba` member sets how the client takes part in OpenID Connect CIBA (docs/ciba.md): poll or ping (a ping endpoint obeys the webhook URL rules, else 400 WEBHOOK_URL_REFUSED) and the public keys of its private_key_jwt assertions.
         */
        post: operations["createApiClient"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/v1/tenants/{tenantId}/clients/{clientId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Revoke an API client (its tokens stop working at once)
         * @description The client can no longer get tokens, and the access tokens it holds stop working at once (the object that checks them forgets them first).
         */
        delete: operations["revokeApiClient"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/v1/tenants/{tenantId}/push-credentials": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The tenant’s push credentials (never their keys)
         * @description The public parts only: the FCM project id and service account, the APNs team id, key id and topic, and when each was set.
         */
        get: operations["listPushCredentials"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/v1/tenants/{tenantId}/push-credentials/{provider}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Remove a push credential (that channel’s devices are then only reached by polling)
         * @description Pushes through that provider fail with CREDENTIALS_MISSING from then on; the devices keep their channels, so setting a credential again resumes them.
         */
        delete: operations["deletePushCredential"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/v1/tenants/{tenantId}/push-credentials/apns": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Set the tenant’s APNs token-signing key (iOS pushes)
         * @description Custos signs an ES256 provider token with the key (reused for at most 40 minutes; Apple accepts one up to an hour old) and sends alerts with apns-push-type alert, priority 10, the operation’s expiry and a per-operation collapse id.
         */
        put: operations["setApnsCredential"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/v1/tenants/{tenantId}/push-credentials/fcm": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Set the tenant’s FCM service account (Android pushes)
         * @description Custos signs a JWT with the service account’s key, exchanges it for an OAuth token (cached until shortly before it expires) and sends through FCM HTTP v1. The key is sealed with WEBHOOK_SECRET_KEY when set and never returned.
         */
        put: operations["setFcmCredential"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/v1/tenants/{tenantId}/webhook": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get the webhook endpoint (never its secret), including whether a 410 disabled it
         * @description The URL, whether deliveries are disabled (a receiver answering 410 disables the endpoint; PUT re-enables it) and until when a replaced secret still signs.
         */
        get: operations["getWebhookEndpoint"];
        /**
         * Set the webhook endpoint (issues a new secret, shown once; re-enables a disabled endpoint)
         * @description The URL must be https to a public host (localhost/127.0.0.1 over http only where ALLOW_LOCAL_WEBHOOKS=true). Replacing an endpoint keeps its previous secret signing for 24 h, as a rotation does.
         */
        put: operations["setWebhookEndpoint"];
        post?: never;
        /**
         * Remove the webhook endpoint: no further events are recorded and pending retries stop
         * @description Events that happen while no endpoint is set are not kept for later; the delivery log stays readable.
         */
        delete: operations["deleteWebhookEndpoint"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/v1/tenants/{tenantId}/webhook/rotate-secret": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Issue a new webhook secret (shown once); the old one keeps signing for 24 h
         * @description For 24 h every delivery carries two signatures in `webhook-signature`, one per secret, so the receiver can switch without dropping an event (docs/webhooks.md).
         */
        post: operations["rotateWebhookSecret"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Readiness: is everything the service needs configured?
         * @description For load balancers and operators: 200 when the database answers, migrations are applied and keys, PUBLIC_URL and ADMIN_TOKEN are set; otherwise 503 naming what is missing (docs/deployment.md). Needs no credentials and shows no secrets.
         */
        get: operations["getHealth"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/oauth/token": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Client credentials grant (RFC 6749 §4.4)
         * @description Exchanges an API client's credentials for a bearer token valid 15 minutes. Authenticate with HTTP Basic or client_secret_post, not both. An optional `scope` (space-separated) narrows the token to some of the client’s scopes. Errors follow RFC 6749 §5.2 (`{ error, error_description }`), the shape OAuth client libraries expect. Failed client authentications are throttled: after 10 in 60 s for one client_id further wrong credentials for it answer 429 `slow_down` (a correct secret is still accepted); after 20 in 60 s from one address (CF-Connecting-IP, IPv6 by /64) every request from it answers 429 `slow_down` until the window has passed. Both carry `Retry-After` and `retry_after`.
         */
        post: operations["issueAccessToken"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/oidc/{tenantId}/.well-known/openid-configuration": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * OpenID Provider metadata of one tenant (OIDC Discovery, CIBA Core §4)
         * @description The issuer is `{PUBLIC_URL}/oidc/{tenantId}`; every URL here derives from PUBLIC_URL, never from the Host header. Cacheable for 5 minutes.
         */
        get: operations["getOpenIdConfiguration"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/oidc/{tenantId}/bc-authorize": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Backchannel authentication request (CIBA Core §7)
         * @description Starts an AUTHENTICATION, or with `authorization_details` of type `payment_initiation` an AUTHORISATION (PSD2 dynamic linking), for the user named by exactly one hint, on their device: an ordinary Custos operation (GET /v1/operations, the audit log, webhooks). `requested_expiry` is clamped to the tenant lifetime (≤ 300 s). `user_code` is not supported. Errors are RFC 6749 §5.2 JSON; on a refusal nothing is written.
         */
        post: operations["requestBackchannelAuthentication"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/oidc/{tenantId}/token": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * CIBA token request (CIBA Core §10.1, §11)
         * @description grant_type `urn:openid:params:grant-type:ciba`. Pending: `authorization_pending`; faster than `interval`: `slow_down` (the interval grows by 5 s). Completed: an ES256 ID token (with `custos_result_token`, the device evidence) and access token, once: a second exchange is `invalid_grant`.
         */
        post: operations["exchangeCibaGrant"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/sdk/v1/config": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * A tenant's branding, rpId and E2E public key
         * @description Public (no credentials): what an app needs before it holds an operation — the name, logo and colour to show, the rpId its passkeys belong to, and the E2E public key native apps encrypt envelopes to (docs/native-protocol.md).
         */
        get: operations["getSdkConfig"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/sdk/v1/device/push-channel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Register or replace this device’s push channel
         * @description The device that signed the proof will be sent a push when an operation is started for it (or broadcast to its user): a Web Push message end-to-end encrypted to the subscription (RFC 8291), or an FCM / APNs notification through the tenant’s credentials. A later PUT replaces the channel; deactivating the device, or a push service answering 404/410, removes it.
         */
        put: operations["putMyPushChannel"];
        post?: never;
        /**
         * Stop pushes to this device
         * @description Removes the channel (if any); the device is then only reached by polling.
         */
        delete: operations["deleteMyPushChannel"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/sdk/v1/devices/me/operations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Pending operations for this device (broadcast ones included)
         * @description For the authenticator app: the live operations addressed to the device that signed the proof or broadcast to its user (at most 50, newest first; registrations never appear). The relying party’s number-match value is never included. A proof that carries a reply key gets the list sealed to it (application/jose).
         */
        get: operations["listMyPendingOperations"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/sdk/v1/operations/{id}/finish": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * The device’s answer: a WebAuthn credential (and at registration an optional device key binding)
         * @description Verifies the credential against the single-use challenge (user verification required; for AUTHORISATION and SIGNATURE the challenge binds what was shown) and, with number matching, the number the user picked. Success makes the operation COMPLETED and signs its result token; any failed check makes it FAILED, charges the device one attempt and answers only VERIFICATION_FAILED.
         */
        post: operations["finishSdkOperation"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/sdk/v1/operations/{id}/reject": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * The user declines
         * @description The operation becomes REJECTED (final) and an `operation.rejected` event is sent. Declining is not a failed attempt: the device’s failure counter is untouched.
         */
        post: operations["rejectSdkOperation"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/sdk/v1/operations/{id}/start": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * What the device shows, and the WebAuthn options (creation for REGISTRATION, request otherwise)
         * @description Moves the operation to IN_PROGRESS and returns what to show (context, transaction(s) and total, or the document with its content) and `publicKey`, the options `@simplewebauthn/browser` takes. Body `{ rpScope?: "tenant" | "service" }`: "service" registers a passkey for the service’s own origin (the authenticator app). Calling it again is allowed while the operation is live.
         */
        post: operations["startSdkOperation"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/audit-events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List audit events, filtered
         * @description The tenant’s append-only log, in chain order (`seq` ascending) or with `order=desc` newest first. Entries hold ids and attribute keys, never attribute values; each carries `prevHash` and `hash` so a copy can be checked offline. Filters combine: `userId`, `action` (exact, or a family ending in a dot: `user.`), `actor` (`client:<id>`, `admin:<id>`, `admin`), `targetId`, `since` and `until` (ISO 8601 UTC instants, inclusive). A filtered page is still in chain order; to verify the chain, read it unfiltered or call `/verify`.
         */
        get: operations["listAuditEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/audit-events/verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Recompute the tenant's audit hash chain
         * @description Recomputes every hash of the chain and reports the first broken link (an edited or deleted entry). A truncated tail cannot be seen from inside: keep `headSeq` and `headHash` and compare them on the next call.
         */
        get: operations["verifyAuditChain"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/devices/{deviceId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One device
         * @description Kind (PASSKEY or NATIVE), status, authenticator flags (backup eligibility matters for deviceBoundOnly) and consecutive failed attempts.
         */
        get: operations["getDevice"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Rename a device
         * @description Sets the display name (1–64 characters) the user sees in your device list; nothing else of a device can be patched.
         */
        patch: operations["renameDevice"];
        trace?: never;
    };
    "/v1/devices/{deviceId}/deactivate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Deactivate a device (final)
         * @description A final state: the device never answers an operation again and its pending operations are cancelled. Sends `device.deactivated`.
         */
        post: operations["deactivateDevice"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/devices/{deviceId}/lock": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Lock a device (cancels its pending operations)
         * @description Optional body `{ reason }`, kept as `lockReason`. Operations addressed to this device are cancelled; a broadcast operation stays open for the user’s other devices. Sends `device.locked`.
         */
        post: operations["lockDevice"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/devices/{deviceId}/operations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The device's operation history, newest first
         * @description Operations addressed to or completed by this device, newest first, from the history kept in D1 (no sdk tokens, no result tokens).
         */
        get: operations["listDeviceOperations"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/devices/{deviceId}/unlock": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Unlock a device (resets failedAttempts)
         * @description Back to ACTIVE, also after an automatic TOO_MANY_FAILED_ATTEMPTS lock; the failure counter restarts at 0. Sends `device.unlocked`.
         */
        post: operations["unlockDevice"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/operations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The tenant's operation history, newest first
         * @description Every operation of the tenant from the history kept in D1 (no sdk tokens, no result tokens: read one operation for its `result`), newest first, cursor-paged. Filters `type`, `status`, `userId` and `deviceId` combine with AND; the cursor belongs to the filters it was issued with.
         */
        get: operations["listOperations"];
        put?: never;
        /**
         * Start an operation (registration, authentication, authorisation, signature)
         * @description The body is discriminated by `type` (docs/operations.md). Without `deviceId` any active device of the user may answer (broadcast, first one wins). Returns the Operation with `sdk.token` and `sdk.url`, shown only here. Dynamic linking (PSD2 RTS art. 5): for AUTHORISATION and SIGNATURE the WebAuthn challenge is random(32) ‖ SHA-256(JCS(bound)). Takes an `Idempotency-Key`. Abuse limits from the tenant policy (docs/operations.md#limits): beyond `maxLiveOperationsPerUser` or `maxLiveOperationsPerDevice` live operations, 429 TOO_MANY_LIVE_OPERATIONS; beyond `maxStartsPerUserPerMinute`, 429 RATE_LIMITED; both with `Retry-After`, and nothing is written.
         */
        post: operations["startOperation"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/operations/{operationId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Operation status; ?wait=N (≤ 30 s) long-polls until it is final
         * @description The Operation without its sdk token; once COMPLETED it holds `result.token`, the signed result token (docs/verifying-tokens.md). `wait` (0–30 s) holds the answer until the operation is final or the time is up, then answers with whatever the status is.
         */
        get: operations["getOperation"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/operations/{operationId}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Cancel an operation
         * @description A live (PENDING or IN_PROGRESS) operation becomes CANCELLED and an `operation.cancelled` event is sent. A final one answers 409 OPERATION_FINAL with its `operationStatus`; one a device is finishing right now, 409 OPERATION_CONFLICT.
         */
        post: operations["cancelOperation"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List users, or resolve an externalRef or attribute value
         * @description Without filters: every user of the tenant, oldest first, a page at a time. `externalRef` resolves your reference (a list of 0 or 1); `attributeKey` with `attributeValue` finds the users holding that exact attribute value.
         */
        get: operations["listUsers"];
        put?: never;
        /**
         * Create a user
         * @description Adds a user to the identity store, with an optional `externalRef` (unique per tenant: your own customer number) and string attributes (keys `^[A-Za-z0-9_.-]{1,64}$`, values ≤ 1024 characters, ≤ 100 per user). Answers 201 with `Location`. Takes an `Idempotency-Key` (docs/concepts.md#idempotency).
         */
        post: operations["createUser"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/users/{userId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a user with attributes
         * @description A user of the caller's tenant; another tenant's user id answers 404 like an unknown one.
         */
        get: operations["getUser"];
        put?: never;
        post?: never;
        /**
         * Erase a user: attributes, devices and credentials are deleted
         * @description GDPR erasure: attributes, devices and credentials are deleted and live operations cancelled. The audit log keeps a pseudonymous record (ids and attribute keys, never values), so the hash chain stays verifiable.
         */
        delete: operations["eraseUser"];
        options?: never;
        head?: never;
        /**
         * Update a user (JSON merge patch; null deletes an attribute)
         * @description RFC 7396 merge patch of `externalRef` and `attributes`: a key set to a string is written, a key set to null is deleted, keys left out are kept. A deactivated user cannot be changed (409 USER_DEACTIVATED).
         */
        patch: operations["updateUser"];
        trace?: never;
    };
    "/v1/users/{userId}/deactivate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Deactivate a user (final): devices deactivated, pending operations cancelled
         * @description A final state: every device of the user is deactivated (each with a `device.deactivated` event), live operations are cancelled and a `user.deactivated` event is sent. The user record and its history stay; DELETE erases them.
         */
        post: operations["deactivateUser"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/users/{userId}/devices": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * A user's devices
         * @description Every device bound to the user, in any status, in one list (a user has few devices, so there is no cursor).
         */
        get: operations["listUserDevices"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/users/{userId}/lock": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Lock a user: blocks new operations and cancels pending ones
         * @description Optional body `{ reason }` (≤ 256 characters; TOO_MANY_FAILED_ATTEMPTS is reserved for automatic locks), kept as `lockReason`. Live operations of the user are cancelled and a `user.locked` event is sent.
         */
        post: operations["lockUser"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/users/{userId}/unlock": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Unlock a user
         * @description Back to ACTIVE; `lockReason` is cleared and a `user.unlocked` event is sent. Devices keep their own status.
         */
        post: operations["unlockUser"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/deliveries": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Delivery attempts, newest first, optionally of one event
         * @description Every attempt is one item; retries of an event share its webhookId. A FAILED item without nextAttemptAt is the last of its event.
         */
        get: operations["listWebhookDeliveries"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/deliveries/{deliveryId}/replay": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Send a delivery's event again to the current endpoint
         * @description Queues the event for an immediate attempt by its delivery object, with the same webhook-id (receivers deduplicate on it) and a fresh timestamp and signature. The attempt is a new item of the delivery log, numbered after the last one; a failed one is retried on the usual schedule.
         */
        post: operations["replayWebhookDelivery"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/test": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Send a webhook.test event now and report the first attempt
         * @description The event is signed and delivered like any other; a failed first attempt is retried on the usual schedule.
         */
        post: operations["sendTestWebhook"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        ActionRequest: Record<string, never>;
        ApiClient: {
            ciba: {
                backchannelClientNotificationEndpoint?: string;
                /** @enum {string} */
                backchannelTokenDeliveryMode: "poll" | "ping";
                jwks?: {
                    keys: {
                        [key: string]: unknown;
                    }[];
                };
            };
            clientId: string;
            createdAt: string;
            name: string;
            revokedAt?: string;
            scopes: ("users" | "devices" | "operations" | "audit")[];
        };
        ApiClientList: {
            items: components["schemas"]["ApiClient"][];
            nextCursor: null;
        };
        ApiClientWithSecret: components["schemas"]["ApiClient"] & {
            clientSecret: string;
        };
        ApnsCredentialInput: {
            keyId: string;
            /** @description The .p8 token-signing key (ES256); stored sealed, never returned */
            privateKey: string;
            teamId: string;
            /**
             * @description The app’s bundle id (apns-topic)
             * @example com.example.bank
             */
            topic: string;
        };
        AuditChainVerification: {
            brokenAtSeq?: number;
            checked: number;
            headHash: string;
            headSeq: number;
            /** @enum {string} */
            reason?: "HASH_MISMATCH" | "LINK_MISMATCH" | "SEQUENCE_GAP";
            valid: boolean;
        };
        AuditEvent: {
            action: string;
            actor: string;
            at: string;
            data: {
                [key: string]: unknown;
            };
            hash: string;
            id: string;
            prevHash: string;
            seq: number;
            targetId: string;
            targetType: string;
            userId: string | null;
        };
        AuditEventList: {
            items: components["schemas"]["AuditEvent"][];
            nextCursor: string | null;
        };
        BackchannelAuthenticationRequest: {
            acr_values?: string;
            /** @description JSON array of one payment_initiation object (docs/ciba.md) */
            authorization_details?: string;
            /** @description 1–64 printable characters, shown on the device as the title */
            binding_message?: string;
            /** @description private_key_jwt: ES256 JWT, iss = sub = client_id, aud = the issuer or this endpoint, exp ≤ 10 min, jti used once */
            client_assertion?: string;
            /**
             * @description private_key_jwt only
             * @enum {string}
             */
            client_assertion_type?: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
            /** @description client_secret_post (with client_secret), or optional with private_key_jwt */
            client_id?: string;
            /** @description Required for ping clients: the bearer token of their notification */
            client_notification_token?: string;
            /** @description client_secret_post only */
            client_secret?: string;
            /** @description An unexpired ID token this issuer gave this client */
            id_token_hint?: string;
            /** @description The user’s externalRef */
            login_hint?: string;
            /** @description ES256 JWT signed with a key of the client’s jwks: iss = client_id, aud = issuer, exp, login_hint = externalRef */
            login_hint_token?: string;
            /** @description Seconds; clamped to the tenant lifetime (≤ 300) */
            requested_expiry?: string;
            /** @example openid */
            scope: string;
        };
        BackchannelAuthenticationResponse: {
            auth_req_id: string;
            expires_in: number;
            interval: number;
        };
        Branding: {
            /** Format: uri */
            logoUrl?: string;
            name?: string;
            primaryColor?: string;
        };
        BrandingPatch: {
            /** Format: uri */
            logoUrl?: string | null;
            name?: string | null;
            primaryColor?: string | null;
        };
        CancelRequest: Record<string, never>;
        CibaClient: {
            /** @description ping only, required there: where Custos POSTs `{auth_req_id}`; the webhook URL rules apply (https, no private hosts) */
            backchannelClientNotificationEndpoint?: string;
            /**
             * @description poll (default) or ping; push is not offered (FAPI-CIBA deprecates it)
             * @default poll
             * @enum {string}
             */
            backchannelTokenDeliveryMode: "poll" | "ping";
            /** @description Public keys verifying the client’s private_key_jwt assertions and login_hint_tokens (ES256) */
            jwks?: {
                keys: components["schemas"]["ClientPublicJwk"][];
            };
        };
        CibaError: {
            /** @enum {string} */
            error: "invalid_request" | "invalid_scope" | "invalid_client" | "unauthorized_client" | "unsupported_grant_type" | "invalid_grant" | "expired_login_hint_token" | "unknown_user_id" | "invalid_binding_message" | "invalid_authorization_details" | "access_denied" | "authorization_pending" | "slow_down" | "expired_token";
            error_description: string;
        };
        CibaTokenRequest: {
            auth_req_id: string;
            /** @description private_key_jwt: ES256 JWT, iss = sub = client_id, aud = the issuer or this endpoint, exp ≤ 10 min, jti used once */
            client_assertion?: string;
            /**
             * @description private_key_jwt only
             * @enum {string}
             */
            client_assertion_type?: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
            /** @description client_secret_post (with client_secret), or optional with private_key_jwt */
            client_id?: string;
            /** @description client_secret_post only */
            client_secret?: string;
            /** @enum {string} */
            grant_type: "urn:openid:params:grant-type:ciba";
        };
        CibaTokenResponse: {
            access_token: string;
            authorization_details?: {
                [key: string]: unknown;
            }[];
            expires_in: number;
            id_token: string;
            /** @enum {string} */
            token_type: "Bearer";
        };
        ClientPublicJwk: {
            /** @enum {string} */
            crv: "P-256";
            kid?: string;
            /** @enum {string} */
            kty: "EC";
            x: string;
            y: string;
        };
        CreateClient: {
            ciba?: components["schemas"]["CibaClient"];
            name: string;
            scopes?: ("users" | "devices" | "operations" | "audit")[];
        };
        CreateTenant: {
            /** @description Web origins whose pages may call /sdk/v1 and load the SDK bundle (CORS). Defaults to `origins`. */
            allowedOrigins?: string[];
            branding?: components["schemas"]["Branding"];
            name: string;
            origins: string[];
            policy?: components["schemas"]["TenantPolicyInput"];
            rpId: string;
            rpName?: string;
        };
        CreateUser: {
            /**
             * @example {
             *       "email": "ada@example.com",
             *       "tier": "gold"
             *     }
             */
            attributes?: {
                [key: string]: string;
            };
            externalRef?: string;
        };
        Device: {
            authenticator: {
                aaguid?: string;
                backedUp: boolean;
                backupEligible: boolean;
                transports?: string[];
            };
            createdAt: string;
            failedAttempts: number;
            id: string;
            /** @enum {string} */
            kind: "PASSKEY" | "NATIVE";
            lastUsedAt?: string;
            lockReason?: string;
            name: string;
            pushChannel?: components["schemas"]["PushChannel"];
            /** @description Why the last channel went away (PUSH_SERVICE_410, DEVICE_DEACTIVATED, REMOVED_BY_DEVICE), until a new one is registered */
            pushChannelRemoved?: {
                at: string;
                reason: string;
                type: string;
            };
            /** @enum {string} */
            status: "ACTIVE" | "LOCKED" | "DEACTIVATED";
            userId: string;
        };
        DeviceActionRequest: Record<string, never>;
        DeviceList: {
            items: components["schemas"]["Device"][];
            nextCursor: null;
        };
        DeviceLockRequest: {
            reason?: string;
        };
        /** @description From the service account JSON key: project_id, client_email, private_key (RS256) */
        FcmCredentialInput: {
            /**
             * Format: email
             * @description The service account (client_email of its JSON key)
             */
            clientEmail: string;
            /** @description PKCS #8 PEM ("-----BEGIN PRIVATE KEY-----"); stored sealed, never returned */
            privateKey: string;
            /** @example my-bank-app */
            projectId: string;
        };
        HealthCheck: {
            detail: string;
            ok: boolean;
        };
        /**
         * @description Each check of what a request needs. signingKeys/e2eKeys say "configured" or, in local development, that the service generated them.
         * @example {
         *       "database": {
         *         "ok": true,
         *         "detail": "reachable"
         *       },
         *       "migrations": {
         *         "ok": true,
         *         "detail": "applied up to 0007_operation_limits.sql"
         *       },
         *       "publicUrl": {
         *         "ok": true,
         *         "detail": "https://custos.example.com"
         *       },
         *       "signingKeys": {
         *         "ok": true,
         *         "detail": "configured"
         *       },
         *       "e2eKeys": {
         *         "ok": true,
         *         "detail": "configured"
         *       },
         *       "adminToken": {
         *         "ok": true,
         *         "detail": "configured"
         *       }
         *     }
         */
        HealthChecks: {
            adminToken: components["schemas"]["HealthCheck"];
            database: components["schemas"]["HealthCheck"];
            e2eKeys: components["schemas"]["HealthCheck"];
            migrations: components["schemas"]["HealthCheck"];
            publicUrl: components["schemas"]["HealthCheck"];
            signingKeys: components["schemas"]["HealthCheck"];
        };
        HealthNotReady: {
            checks: components["schemas"]["HealthChecks"];
            /**
             * @description What to set or run before the service can answer
             * @example [
             *       "signingKeys",
             *       "publicUrl"
             *     ]
             */
            missing: string[];
            /** @enum {string} */
            status: "not_ready";
        };
        HealthOk: {
            checks: components["schemas"]["HealthChecks"];
            /** @enum {string} */
            status: "ok";
        };
        Jwks: {
            keys: components["schemas"]["PublicJwk"][];
        };
        LockRequest: {
            reason?: string;
        };
        OAuthError: {
            /** @enum {string} */
            error: "invalid_request" | "invalid_client" | "unsupported_grant_type" | "invalid_scope" | "slow_down";
            error_description: string;
            /** @description slow_down only: seconds to wait, as in Retry-After */
            retry_after?: number;
        };
        OpenIdConfiguration: {
            [key: string]: unknown;
        };
        Operation: {
            completedAt?: string;
            context?: {
                completedText?: string;
                locale?: string;
                text?: string;
                title: string;
            };
            createdAt: string;
            /** @description Only in the start response of a `sameDevice` operation: pass it to the web SDK (or the authenticator) as is; the operation is then IN_PROGRESS */
            device?: {
                operation: {
                    [key: string]: unknown;
                };
                publicKey: {
                    [key: string]: unknown;
                };
            };
            deviceId?: string;
            document?: {
                mimeType: string;
                sha256: string;
                title?: string;
            };
            expiresAt: string;
            failure?: {
                code: string;
            };
            id: string;
            /** @description Per device with a push channel: what became of its notification (docs/push.md). Absent when nothing was pushed */
            notifications?: {
                at: string;
                attempts: number;
                /** @enum {string} */
                channel: "WEB_PUSH" | "FCM" | "APNS";
                closedAt?: string;
                deviceId: string;
                reason?: string;
                /** @enum {string} */
                status: "QUEUED" | "SENT" | "RETRYING" | "FAILED" | "GONE" | "WITHDRAWN" | "NOT_SENT";
            }[];
            numberMatch?: string;
            result?: {
                authMethod: string;
                deviceId: string;
                token: string;
                /** @enum {boolean} */
                userVerified: true;
            };
            /** @description Only in the start response */
            sdk?: {
                token: string;
                url: string;
            };
            /** @enum {string} */
            status: "PENDING" | "IN_PROGRESS" | "COMPLETED" | "REJECTED" | "FAILED" | "CANCELLED" | "EXPIRED";
            total?: {
                amount: string;
                currency: string;
            };
            transaction?: {
                [key: string]: unknown;
            };
            transactions?: {
                [key: string]: unknown;
            }[];
            /** @enum {string} */
            type: "REGISTRATION" | "AUTHENTICATION" | "AUTHORISATION" | "SIGNATURE";
            userId: string;
        };
        /** @description What the user reads: plain text (never markup), shown escaped everywhere, and part of the result token (`ctx`) */
        OperationContext: {
            /** @description Shown after the user approved */
            completedText?: string;
            /** @description The language of the texts (BCP 47) */
            locale?: string;
            /** @description Shown with the title, before the user decides */
            text?: string;
            /** @description Shown before the user decides (the notification title, the approve view) */
            title: string;
        };
        OperationList: {
            items: components["schemas"]["Operation"][];
            nextCursor: string | null;
        };
        PatchDevice: {
            name: string;
        };
        PatchTenant: {
            /** @description Web origins whose pages may call /sdk/v1 and load the SDK bundle (CORS). Defaults to `origins`. */
            allowedOrigins?: string[] | null;
            branding?: components["schemas"]["BrandingPatch"];
            name?: string;
            origins?: string[];
            policy?: components["schemas"]["TenantPolicyInput"];
            rpId?: string;
            rpName?: string;
        };
        /** @description JSON merge patch (RFC 7396): an attribute set to null is deleted. */
        PatchUser: {
            attributes?: {
                [key: string]: string | null;
            };
            externalRef?: string | null;
        };
        PendingOperationList: {
            items: components["schemas"]["Operation"][];
            nextCursor: null;
        };
        Problem: {
            /** @example USER_NOT_FOUND */
            code: string;
            detail: string;
            invalidParams?: {
                name: string;
                reason: string;
            }[];
            status: number;
            title: string;
            traceId: string;
            type: string;
        };
        PublicJwk: {
            /** @enum {string} */
            alg: "ES256";
            /** @enum {string} */
            crv: "P-256";
            /** @example sig-2026-08-01 */
            kid: string;
            /** @enum {string} */
            kty: "EC";
            /** @enum {string} */
            use: "sig";
            x: string;
            y: string;
        };
        /** @description Where the device is pushed to (never its keys or token); absent when it only polls */
        PushChannel: {
            endpointOrigin?: string;
            /** @enum {string} */
            environment?: "production" | "sandbox";
            /** @enum {string} */
            type: "WEB_PUSH" | "FCM" | "APNS";
            updatedAt: string;
        };
        /** @description A Web Push subscription (PushSubscription.toJSON() plus type), or a native FCM / APNs token */
        PushChannelInput: {
            /** @description PushSubscription.endpoint: https to a public host */
            endpoint: string;
            /** @description Ignored */
            expirationTime?: number | null;
            keys: {
                /** @description The subscription’s 16-byte auth secret */
                auth: string;
                /** @description The subscription’s P-256 public key */
                p256dh: string;
            };
            /** @enum {string} */
            type: "WEB_PUSH";
        } | {
            token: string;
            /** @enum {string} */
            type: "FCM";
        } | {
            /** @enum {string} */
            environment: "production" | "sandbox";
            token: string;
            /** @enum {string} */
            type: "APNS";
        };
        PushChannelRegistered: {
            deviceId: string;
            pushChannel: components["schemas"]["PushChannel"] & unknown;
        };
        /** @description A tenant’s push credential without its private key */
        PushCredential: {
            keyId?: string;
            projectId?: string;
            /** @enum {string} */
            provider: "FCM" | "APNS";
            teamId?: string;
            topic?: string;
            updatedAt: string;
        };
        PushCredentialList: {
            items: components["schemas"]["PushCredential"][];
        };
        PutWebhook: {
            /** @example https://bank.example/custos/webhooks */
            url: string;
        };
        /** @description No fields; any given are ignored */
        RejectRequest: Record<string, never>;
        RejectResult: {
            /** @enum {string} */
            status: "REJECTED";
        };
        RotateWebhookSecret: Record<string, never>;
        SdkConfig: {
            branding: {
                [key: string]: string;
            };
            e2eKey?: {
                [key: string]: string;
            };
            rpId: string;
            tenantId: string;
            /** @description Present when the service can send Web Push (VAPID_KEYS configured, or local development) */
            webPush?: {
                /** @description applicationServerKey for pushManager.subscribe: the 65-byte uncompressed P-256 point, base64url */
                vapidPublicKey: string;
            };
        };
        SdkOperation: {
            context?: {
                completedText?: string;
                locale?: string;
                text?: string;
                title: string;
            };
            document?: {
                content: string;
                mimeType: string;
                sha256: string;
                title?: string;
            };
            expiresAt: string;
            id: string;
            numberMatchChoices?: string[];
            total?: {
                amount: string;
                currency: string;
            };
            transaction?: {
                [key: string]: unknown;
            };
            transactions?: {
                [key: string]: unknown;
            }[];
            /** @enum {string} */
            type: "REGISTRATION" | "AUTHENTICATION" | "AUTHORISATION" | "SIGNATURE";
        };
        StartOperation: {
            authorisedBy?: string;
            context?: components["schemas"]["OperationContext"];
            deviceId?: string;
            deviceName?: string;
            numberMatching?: boolean;
            /** @description false: no push notification for this start (the user answers on the page, by QR code or link, or the app finds it in its list). Default true: every target device with a push channel is notified (docs/push.md). */
            push?: boolean;
            /** @description Two-call ceremony on the device the relying party's own page or app runs on: the start answers `device` (what SDK start would answer: the operation details and the WebAuthn options), and the device's finish answers the signed `result`, which the relying party verifies offline with the JWKS. Default false (the decoupled flow: sdk.url, QR, another device). */
            sameDevice?: boolean;
            /** @description 1 … tenant operationTtlSeconds (≤ 300); default the maximum */
            ttlSeconds?: number;
            /** @enum {string} */
            type: "REGISTRATION";
            userId: string;
        } | {
            context?: components["schemas"]["OperationContext"];
            deviceId?: string;
            numberMatching?: boolean;
            /** @description false: no push notification for this start (the user answers on the page, by QR code or link, or the app finds it in its list). Default true: every target device with a push channel is notified (docs/push.md). */
            push?: boolean;
            /** @description Two-call ceremony on the device the relying party's own page or app runs on: the start answers `device` (what SDK start would answer: the operation details and the WebAuthn options), and the device's finish answers the signed `result`, which the relying party verifies offline with the JWKS. Default false (the decoupled flow: sdk.url, QR, another device). */
            sameDevice?: boolean;
            /** @description 1 … tenant operationTtlSeconds (≤ 300); default the maximum */
            ttlSeconds?: number;
            /** @enum {string} */
            type: "AUTHENTICATION";
            userId: string;
        } | {
            context?: components["schemas"]["OperationContext"];
            deviceId?: string;
            numberMatching?: boolean;
            /** @description false: no push notification for this start (the user answers on the page, by QR code or link, or the app finds it in its list). Default true: every target device with a push channel is notified (docs/push.md). */
            push?: boolean;
            /** @description Two-call ceremony on the device the relying party's own page or app runs on: the start answers `device` (what SDK start would answer: the operation details and the WebAuthn options), and the device's finish answers the signed `result`, which the relying party verifies offline with the JWKS. Default false (the decoupled flow: sdk.url, QR, another device). */
            sameDevice?: boolean;
            transaction?: components["schemas"]["Transaction"];
            transactions?: components["schemas"]["Transaction"][];
            /** @description 1 … tenant operationTtlSeconds (≤ 300); default the maximum */
            ttlSeconds?: number;
            /** @enum {string} */
            type: "AUTHORISATION";
            userId: string;
        } | {
            context?: components["schemas"]["OperationContext"];
            deviceId?: string;
            document: {
                content: string;
                /** @enum {string} */
                mimeType: "text/plain" | "text/markdown" | "application/json";
                title?: string;
            };
            numberMatching?: boolean;
            /** @description false: no push notification for this start (the user answers on the page, by QR code or link, or the app finds it in its list). Default true: every target device with a push channel is notified (docs/push.md). */
            push?: boolean;
            /** @description Two-call ceremony on the device the relying party's own page or app runs on: the start answers `device` (what SDK start would answer: the operation details and the WebAuthn options), and the device's finish answers the signed `result`, which the relying party verifies offline with the JWKS. Default false (the decoupled flow: sdk.url, QR, another device). */
            sameDevice?: boolean;
            /** @description 1 … tenant operationTtlSeconds (≤ 300); default the maximum */
            ttlSeconds?: number;
            /** @enum {string} */
            type: "SIGNATURE";
            userId: string;
        };
        Tenant: {
            /** @description Web origins allowed to call /sdk/v1 (CORS): the configured list, else `origins`. */
            allowedOrigins: string[];
            branding: {
                logoUrl?: string;
                name?: string;
                primaryColor?: string;
            };
            createdAt: string;
            id: string;
            name: string;
            origins: string[];
            policy: {
                deviceBoundOnly: boolean;
                maxFailedAttempts: number;
                maxLiveOperationsPerDevice: number;
                maxLiveOperationsPerUser: number;
                maxStartsPerUserPerMinute: number;
                /** @enum {string} */
                numberMatching: "PUSHED" | "DECOUPLED" | "REQUESTED";
                operationTtlSeconds: number;
                pushNotifications: boolean;
                requireScaForNewDevice: boolean;
            };
            rpId: string;
            rpName: string;
            updatedAt: string;
            webhook?: {
                disabled?: boolean;
                url: string;
            };
        };
        TenantList: {
            items: components["schemas"]["Tenant"][];
            nextCursor: string | null;
        };
        TenantPolicyInput: {
            deviceBoundOnly?: boolean;
            maxFailedAttempts?: number;
            /** @description Live operations that may name one device at once (1–50, default 3); beyond it a start answers 429 */
            maxLiveOperationsPerDevice?: number;
            /** @description Live (PENDING or IN_PROGRESS, unexpired) operations one user may have at once (1–50, default 5); beyond it a start answers 429 */
            maxLiveOperationsPerUser?: number;
            /** @description Operations started for one user in any 60 s (1–600, default 10); beyond it a start answers 429 */
            maxStartsPerUserPerMinute?: number;
            /**
             * @description Which AUTHENTICATIONs get number matching when the start does not say: PUSHED (default; the pushed ones), DECOUPLED (all but sameDevice), REQUESTED (only when asked)
             * @enum {string}
             */
            numberMatching?: "PUSHED" | "DECOUPLED" | "REQUESTED";
            operationTtlSeconds?: number;
            /** @description Starts notify target devices that have a push channel (default true; a start may still say `push: false`) */
            pushNotifications?: boolean;
            requireScaForNewDevice?: boolean;
        };
        TokenRequest: {
            /** @description client_secret_post only */
            client_id?: string;
            /** @description client_secret_post only */
            client_secret?: string;
            /** @enum {string} */
            grant_type: "client_credentials";
            /**
             * @description Space-separated subset of users, devices, operations, audit
             * @example operations
             */
            scope?: string;
        };
        TokenResponse: {
            access_token: string;
            /** @example 900 */
            expires_in: number;
            scope: string;
            /** @enum {string} */
            token_type: "Bearer";
        };
        Transaction: {
            /**
             * @description Decimal string, > 0, at most the currency’s ISO 4217 minor digits
             * @example 12.50
             */
            amount: string;
            /** @example EUR */
            currency: string;
            payee: {
                account?: string;
                name: string;
            };
            reference?: string;
        };
        User: {
            attributes: {
                [key: string]: string;
            };
            createdAt: string;
            externalRef?: string;
            /** @example usr_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h */
            id: string;
            lockReason?: string;
            /** @enum {string} */
            status: "ACTIVE" | "LOCKED" | "DEACTIVATED";
            updatedAt: string;
        };
        UserList: {
            items: components["schemas"]["User"][];
            nextCursor: string | null;
        };
        WebhookDelivery: {
            at: string;
            attempt: number;
            /**
             * @description Why the attempt failed; see docs/webhooks.md
             * @enum {string}
             */
            error?: "TIMEOUT" | "CONNECTION_FAILED" | "REDIRECT_NOT_FOLLOWED" | "HTTP_ERROR" | "ENDPOINT_GONE" | "SECRET_UNAVAILABLE" | "ENDPOINT_REMOVED" | "ENDPOINT_DISABLED" | "URL_REFUSED";
            eventId: string;
            /** @example operation.completed */
            eventType: string;
            /** @example whd_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h */
            id: string;
            /** @description When the next retry is due; absent once the delivery has stopped */
            nextAttemptAt?: string;
            /** @enum {string} */
            outcome: "SUCCEEDED" | "FAILED";
            responseStatus?: number;
            /**
             * @description Milliseconds from sending to the response headers or the failure; absent when nothing was sent
             * @example 84
             */
            responseTimeMs?: number;
            /** @description The webhook-id header sent: the event id, the same on every retry */
            webhookId: string;
        };
        WebhookDeliveryList: {
            items: components["schemas"]["WebhookDelivery"][];
            nextCursor: string | null;
        };
        WebhookEndpoint: {
            createdAt: string;
            disabled: boolean;
            disabledAt?: string;
            /** @example ENDPOINT_GONE */
            disabledReason?: string;
            previousSecretExpiresAt?: string;
            updatedAt: string;
            url: string;
        };
        WebhookReplay: {
            /**
             * @description The event sent again, under the same webhook-id
             * @example evt_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h
             */
            eventId: string;
            /**
             * @description When the replay was queued; its attempt appears in the delivery log
             * @example 2026-08-14T09:41:07.123Z
             */
            queuedAt: string;
        };
        WebhookSecret: {
            /** @description Until then the secret this one replaced also signs every delivery */
            previousSecretExpiresAt?: string;
            /**
             * @description whsec_<base64>: shown only in this response
             * @example whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
             */
            secret: string;
            url: string;
        };
        WebhookTestRequest: Record<string, never>;
        WebhookTestResult: {
            delivery: components["schemas"]["WebhookDelivery"];
            /** @example evt_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h */
            eventId: string;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    getJwks: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The JWK set */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Jwks"];
                };
            };
            /** @description SIGNING_KEYS_NOT_CONFIGURED: a deployed worker without SIGNING_KEYS has no keys to publish */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listTenants: {
        parameters: {
            query?: {
                /** @description Opaque cursor from a previous page */
                cursor?: string;
                /** @description 1–100, default 20 */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of tenants */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TenantList"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createTenant: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateTenant"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Tenant"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getTenant: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The tenant */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Tenant"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    updateTenant: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PatchTenant"];
                "application/merge-patch+json": components["schemas"]["PatchTenant"];
            };
        };
        responses: {
            /** @description The updated tenant */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Tenant"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listApiClients: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Clients */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ApiClientList"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createApiClient: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateClient"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ApiClientWithSecret"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    revokeApiClient: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                clientId: string;
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Revoked */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND, CLIENT_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listPushCredentials: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The credentials */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PushCredentialList"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    deletePushCredential: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                provider: "fcm" | "apns";
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Removed */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND, PUSH_CREDENTIAL_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    setApnsCredential: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ApnsCredentialInput"];
            };
        };
        responses: {
            /** @description Stored */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PushCredential"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    setFcmCredential: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["FcmCredentialInput"];
            };
        };
        responses: {
            /** @description Stored */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PushCredential"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The endpoint */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookEndpoint"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND, WEBHOOK_NOT_CONFIGURED) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    setWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PutWebhook"];
            };
        };
        responses: {
            /** @description The endpoint and its new secret */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookSecret"];
                };
            };
            /** @description VALIDATION_FAILED, or WEBHOOK_URL_REFUSED: not https, a private/loopback/link-local/metadata host, or credentials in the URL */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    deleteWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Removed */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND, WEBHOOK_NOT_CONFIGURED) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    rotateWebhookSecret: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["RotateWebhookSecret"];
            };
        };
        responses: {
            /** @description The endpoint and its new secret */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookSecret"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (TENANT_NOT_FOUND, WEBHOOK_NOT_CONFIGURED) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (AUTHENTICATION_THROTTLED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getHealth: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Ready */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HealthOk"];
                };
            };
            /** @description Not ready: `missing` names what to configure */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HealthNotReady"];
                };
            };
        };
    };
    issueAccessToken: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/x-www-form-urlencoded": components["schemas"]["TokenRequest"];
            };
        };
        responses: {
            /** @description A bearer token */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TokenResponse"];
                };
            };
            /** @description invalid_request, unsupported_grant_type, invalid_scope */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OAuthError"];
                };
            };
            /** @description invalid_client (with WWW-Authenticate: Basic) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OAuthError"];
                };
            };
            /** @description slow_down: too many failed client authentications for this client_id or from this address */
            429: {
                headers: {
                    /** @description Seconds to wait */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OAuthError"];
                };
            };
        };
    };
    getOpenIdConfiguration: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The metadata */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OpenIdConfiguration"];
                };
            };
            /** @description NOT_FOUND: no such tenant */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    requestBackchannelAuthentication: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/x-www-form-urlencoded": components["schemas"]["BackchannelAuthenticationRequest"];
            };
        };
        responses: {
            /** @description Accepted: poll the token endpoint (or wait for the ping) with auth_req_id */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BackchannelAuthenticationResponse"];
                };
            };
            /** @description invalid_request, invalid_scope, expired_login_hint_token, unknown_user_id, unauthorized_client, invalid_binding_message, invalid_authorization_details */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CibaError"];
                };
            };
            /** @description invalid_client (with WWW-Authenticate: Basic) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CibaError"];
                };
            };
            /** @description access_denied: the user is not active, has no active device, or a start limit is reached */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CibaError"];
                };
            };
            /** @description slow_down with Retry-After: too many failed client authentications from this address or for this client_id (the /oauth/token throttles) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CibaError"];
                };
            };
        };
    };
    exchangeCibaGrant: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenantId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/x-www-form-urlencoded": components["schemas"]["CibaTokenRequest"];
            };
        };
        responses: {
            /** @description The tokens */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CibaTokenResponse"];
                };
            };
            /** @description authorization_pending, slow_down, expired_token, access_denied, invalid_grant, invalid_request, unsupported_grant_type */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CibaError"];
                };
            };
            /** @description invalid_client (with WWW-Authenticate: Basic) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CibaError"];
                };
            };
            /** @description slow_down with Retry-After: too many failed client authentications from this address or for this client_id (the /oauth/token throttles) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CibaError"];
                };
            };
        };
    };
    getSdkConfig: {
        parameters: {
            query: {
                /** @description Tenant id (ten_…) */
                tenant: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Config */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SdkConfig"];
                };
            };
            /** @description TENANT_NOT_FOUND */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description E2E_KEYS_NOT_CONFIGURED: a deployed worker without E2E_KEYS */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    putMyPushChannel: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PushChannelInput"];
            };
        };
        responses: {
            /** @description Registered */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PushChannelRegistered"];
                };
            };
            /** @description VALIDATION_FAILED (an endpoint that is not public https, a p256dh that is not a P-256 point, an auth that is not 16 bytes), MALFORMED_JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description UNAUTHENTICATED (no, an invalid, expired or replayed device proof) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description ORIGIN_NOT_ALLOWED */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description DEVICE_LOCKED, DEVICE_NOT_ACTIVE */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description VAPID_KEYS_NOT_CONFIGURED: a Web Push channel on a deployment without VAPID_KEYS */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    deleteMyPushChannel: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Removed (or there was none) */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description UNAUTHENTICATED (no, an invalid, expired or replayed device proof) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description ORIGIN_NOT_ALLOWED */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description DEVICE_LOCKED, DEVICE_NOT_ACTIVE */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listMyPendingOperations: {
        parameters: {
            query?: {
                /** @description Only PENDING is supported (the default) */
                status?: "PENDING";
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The pending operations */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/jose": string;
                    "application/json": components["schemas"]["PendingOperationList"];
                };
            };
            /** @description VALIDATION_FAILED (status other than PENDING) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description UNAUTHENTICATED (no, an invalid, expired or replayed device proof) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description DEVICE_LOCKED, DEVICE_NOT_ACTIVE */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    finishSdkOperation: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/jose": string;
                "application/json": {
                    /** @description @simplewebauthn/browser response JSON */
                    credential: {
                        [key: string]: unknown;
                    };
                    /** @description P-256 public JWK (registration) */
                    deviceKey?: {
                        [key: string]: unknown;
                    };
                    /** @description Compact ES256 JWS by deviceKey over { operationId, challenge } */
                    deviceSignature?: string;
                    numberMatch?: string;
                };
            };
        };
        responses: {
            /** @description Final status (and the new device id after a REGISTRATION) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        deviceId?: string;
                        status: string;
                    };
                };
            };
            /** @description VERIFICATION_FAILED (any failed check: the operation is FAILED and the device charged one attempt), VALIDATION_FAILED, MALFORMED_JSON; for envelopes ENVELOPE_MALFORMED, E2E_KEY_UNKNOWN, ENVELOPE_UNREADABLE */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description UNAUTHENTICATED (no, a garbled or a forged sdk token or device proof); for envelopes DEVICE_SIGNATURE_INVALID, ENVELOPE_STALE, ENVELOPE_REPLAYED, ENVELOPE_BINDING_MISMATCH */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description ORIGIN_NOT_ALLOWED: a browser call from an Origin the operation’s tenant does not allow */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description OPERATION_NOT_FOUND (unknown id, or credentials for another operation) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description OPERATION_FINAL, OPERATION_CONFLICT, DEVICE_NOT_ACTIVE, USER_NOT_ACTIVE, DEVICE_NOT_NATIVE */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description PAYLOAD_TOO_LARGE */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description UNSUPPORTED_MEDIA_TYPE, or NATIVE_ENVELOPE_REQUIRED for an operation of a native device */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description SIGNING_KEYS_NOT_CONFIGURED: a deployed worker without SIGNING_KEYS cannot sign the result token */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    rejectSdkOperation: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/jose": string;
                "application/json": components["schemas"]["RejectRequest"];
            };
        };
        responses: {
            /** @description Rejected */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RejectResult"];
                };
            };
            /** @description MALFORMED_JSON; for envelopes ENVELOPE_MALFORMED, E2E_KEY_UNKNOWN, ENVELOPE_UNREADABLE */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description UNAUTHENTICATED (no, a garbled or a forged sdk token or device proof); for envelopes DEVICE_SIGNATURE_INVALID, ENVELOPE_STALE, ENVELOPE_REPLAYED, ENVELOPE_BINDING_MISMATCH */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description ORIGIN_NOT_ALLOWED: a browser call from an Origin the operation’s tenant does not allow */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description OPERATION_NOT_FOUND (unknown id, or credentials for another operation) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description OPERATION_FINAL, OPERATION_CONFLICT */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description PAYLOAD_TOO_LARGE */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description UNSUPPORTED_MEDIA_TYPE, or NATIVE_ENVELOPE_REQUIRED for an operation of a native device */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    startSdkOperation: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/jose": string;
                "application/json": {
                    /** @enum {string} */
                    rpScope?: "tenant" | "service";
                };
            };
        };
        responses: {
            /** @description Started */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        operation: components["schemas"]["SdkOperation"];
                        publicKey: {
                            [key: string]: unknown;
                        };
                    };
                };
            };
            /** @description VALIDATION_FAILED; for envelopes ENVELOPE_MALFORMED, E2E_KEY_UNKNOWN, ENVELOPE_UNREADABLE */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description UNAUTHENTICATED (no, a garbled or a forged sdk token or device proof); for envelopes DEVICE_SIGNATURE_INVALID, ENVELOPE_STALE, ENVELOPE_REPLAYED, ENVELOPE_BINDING_MISMATCH */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description ORIGIN_NOT_ALLOWED: a browser call from an Origin the operation’s tenant does not allow */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description OPERATION_NOT_FOUND (unknown id, or credentials for another operation) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description OPERATION_FINAL (with operationStatus), OPERATION_CONFLICT, DEVICE_NOT_NATIVE (an envelope from a passkey device) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description PAYLOAD_TOO_LARGE */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description UNSUPPORTED_MEDIA_TYPE, or NATIVE_ENVELOPE_REQUIRED for an operation of a native device */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description PUBLIC_URL_NOT_CONFIGURED: a service-scoped registration needs the service rpId */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listAuditEvents: {
        parameters: {
            query?: {
                action?: string;
                actor?: string;
                /** @description Opaque cursor from a previous page */
                cursor?: string;
                /** @description 1–100, default 20 */
                limit?: number;
                order?: "asc" | "desc";
                since?: string;
                targetId?: string;
                until?: string;
                userId?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of audit events */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuditEventList"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    verifyAuditChain: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The result; keep headSeq/headHash to detect a truncated tail later */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuditChainVerification"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getDevice: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                deviceId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The device */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Device"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (DEVICE_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    renameDevice: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                deviceId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PatchDevice"];
                "application/merge-patch+json": {
                    name: string;
                };
            };
        };
        responses: {
            /** @description The device */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Device"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (DEVICE_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    deactivateDevice: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                deviceId: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["DeviceActionRequest"];
            };
        };
        responses: {
            /** @description The device */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Device"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (DEVICE_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (DEVICE_DEACTIVATED) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    lockDevice: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                deviceId: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["DeviceLockRequest"];
            };
        };
        responses: {
            /** @description The device */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Device"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (DEVICE_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (DEVICE_DEACTIVATED) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listDeviceOperations: {
        parameters: {
            query?: {
                /** @description Opaque cursor from a previous page */
                cursor?: string;
                /** @description 1–100, default 20 */
                limit?: number;
            };
            header?: never;
            path: {
                deviceId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Operations */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OperationList"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (DEVICE_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    unlockDevice: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                deviceId: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["DeviceActionRequest"];
            };
        };
        responses: {
            /** @description The device */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Device"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (DEVICE_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (DEVICE_DEACTIVATED) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listOperations: {
        parameters: {
            query?: {
                /** @description Opaque cursor from a previous page */
                cursor?: string;
                deviceId?: string;
                /** @description 1–100, default 20 */
                limit?: number;
                /** @description Only operations in this status */
                status?: "PENDING" | "IN_PROGRESS" | "COMPLETED" | "REJECTED" | "FAILED" | "CANCELLED" | "EXPIRED";
                /** @description Only operations of this type */
                type?: "REGISTRATION" | "AUTHENTICATION" | "AUTHORISATION" | "SIGNATURE";
                userId?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Operations */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OperationList"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    startOperation: {
        parameters: {
            query?: never;
            header?: {
                "idempotency-key"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["StartOperation"];
            };
        };
        responses: {
            /** @description Started */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Operation"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (USER_NOT_FOUND, DEVICE_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (USER_NOT_ACTIVE, DEVICE_LOCKED, DEVICE_NOT_ACTIVE, NO_ACTIVE_DEVICE, SCA_REQUIRED, IDEMPOTENCY_KEY_IN_USE) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The Idempotency-Key was used with another request (IDEMPOTENCY_KEY_REUSED) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests (TOO_MANY_LIVE_OPERATIONS, RATE_LIMITED); retry after Retry-After seconds */
            429: {
                headers: {
                    /** @description Seconds until the request may succeed */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getOperation: {
        parameters: {
            query?: {
                /** @description Seconds to wait for a final status (0–30) */
                wait?: number | null;
            };
            header?: never;
            path: {
                operationId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The operation (without the sdk token) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Operation"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (OPERATION_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    cancelOperation: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                operationId: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["CancelRequest"];
            };
        };
        responses: {
            /** @description CANCELLED */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Operation"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (OPERATION_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (OPERATION_FINAL, OPERATION_CONFLICT) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listUsers: {
        parameters: {
            query?: {
                attributeKey?: string;
                attributeValue?: string;
                /** @description Opaque cursor from a previous page */
                cursor?: string;
                externalRef?: string;
                /** @description 1–100, default 20 */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of users */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["UserList"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createUser: {
        parameters: {
            query?: never;
            header?: {
                "idempotency-key"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateUser"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["User"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (EXTERNAL_REF_TAKEN, IDEMPOTENCY_KEY_IN_USE) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The Idempotency-Key was used with another request (IDEMPOTENCY_KEY_REUSED) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getUser: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                userId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The user */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["User"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (USER_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    eraseUser: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                userId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Erased */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (USER_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    updateUser: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                userId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PatchUser"];
                "application/merge-patch+json": components["schemas"]["PatchUser"];
            };
        };
        responses: {
            /** @description The updated user */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["User"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (USER_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (EXTERNAL_REF_TAKEN, USER_DEACTIVATED) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    deactivateUser: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                userId: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["ActionRequest"];
            };
        };
        responses: {
            /** @description The updated user */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["User"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (USER_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (USER_DEACTIVATED) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listUserDevices: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                userId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Devices */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeviceList"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (USER_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    lockUser: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                userId: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["LockRequest"];
            };
        };
        responses: {
            /** @description The updated user */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["User"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (USER_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (USER_DEACTIVATED) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    unlockUser: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                userId: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["ActionRequest"];
            };
        };
        responses: {
            /** @description The updated user */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["User"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (USER_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (USER_DEACTIVATED) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listWebhookDeliveries: {
        parameters: {
            query?: {
                /** @description Opaque cursor from a previous page */
                cursor?: string;
                eventId?: string;
                /** @description 1–100, default 20 */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of delivery attempts */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookDeliveryList"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    replayWebhookDelivery: {
        parameters: {
            query?: never;
            header?: {
                "idempotency-key"?: string;
            };
            path: {
                deliveryId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Queued: the attempt follows within seconds */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookReplay"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (WEBHOOK_DELIVERY_NOT_FOUND) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (WEBHOOK_ENDPOINT_MISSING, WEBHOOK_DISABLED, IDEMPOTENCY_KEY_IN_USE) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The Idempotency-Key was used with another request (IDEMPOTENCY_KEY_REUSED) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    sendTestWebhook: {
        parameters: {
            query?: never;
            header?: {
                "idempotency-key"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["WebhookTestRequest"];
            };
        };
        responses: {
            /** @description The event id and its first delivery attempt (which may have failed) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookTestResult"];
                };
            };
            /** @description Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, expired or revoked access token (UNAUTHENTICATED) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token lacks the needed scope (INSUFFICIENT_SCOPE) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found (WEBHOOK_NOT_CONFIGURED) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict (WEBHOOK_DISABLED, IDEMPOTENCY_KEY_IN_USE) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body over 256 KiB (PAYLOAD_TOO_LARGE) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not JSON (UNSUPPORTED_MEDIA_TYPE) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The Idempotency-Key was used with another request (IDEMPOTENCY_KEY_REUSED) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
}
