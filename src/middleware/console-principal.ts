// Who a console call acts for: the console hands the public API an in-process Request tagged here, never a header.

/** An administrator signed in to the console, as the public API sees them for one call. */
export interface ConsolePrincipal {
  adminId: string;
  /** Operators manage every tenant; a tenant administrator only `tenantId`. */
  role: 'operator' | 'tenant';
  /** The tenant this call acts on (/v1 needs one); for a tenant administrator always their own. */
  tenantId: string | null;
}

/**
 * Requests the console built itself and passed to app.fetch in this isolate. A WeakMap keyed by the Request object:
 * nothing that arrives over the network can be in it, so no header or cookie can claim a console principal.
 */
const principals = new WeakMap<Request, ConsolePrincipal>();

export function tagConsoleRequest(request: Request, principal: ConsolePrincipal): Request {
  principals.set(request, principal);
  return request;
}

export function consolePrincipalOf(request: Request): ConsolePrincipal | undefined {
  return principals.get(request);
}

/** The audit actor of an administrator. */
export function adminActor(adminId: string): string {
  return `admin:${adminId}`;
}
