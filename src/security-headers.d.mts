// Types of security-headers.mjs (plain JavaScript so the Node build script can import it too).
export declare const PERMISSIONS_POLICY: string;
export declare const BASE_HEADERS: Readonly<Record<'X-Content-Type-Options' | 'Referrer-Policy' | 'X-Frame-Options' | 'Permissions-Policy', string>>;
export declare const API_CSP: string;
export declare const APP_CSP: string;
export declare const DEMO_CSP: string;
export declare const DOCS_CSP: string;
export declare const CONSOLE_CSP: string;
export declare function pageCsp(pathname: string): string;
export declare function securityHeadersFor(pathname: string, contentType: string | null | undefined): Record<string, string>;
export declare function assetsHeadersFile(): string;
