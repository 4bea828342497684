// The WebCrypto type names the shared helpers from the repository root use (they are typed for workerd), mapped to Node's for these tests.
type CryptoKey = import('node:crypto').webcrypto.CryptoKey;
type CryptoKeyPair = import('node:crypto').webcrypto.CryptoKeyPair;
type JsonWebKey = import('node:crypto').webcrypto.JsonWebKey;
