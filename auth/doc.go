// Package auth is Portico's identity layer: Ed25519-signed JWTs, a token DB
// with exact revocation, clients (users and services) with roles and
// groups, login (passwords, TOTP MFA, external OIDC), refresh, logout, and
// the middleware that puts the caller's Principal in the request context.
//
// # Using it
//
// New(Config{}) gives a working Service: an in-memory store, a fresh signing
// key, 15-minute access tokens. Mount its routes on your own mux, under any
// prefix, and guard your own routes with its middleware:
//
//	svc, _ := auth.New(auth.Config{Store: myStore, Keys: myKeys})
//	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", svc.Handler()))
//	mux.Handle("GET /reports", svc.Middleware(auth.RequireRole("reader")(reports)))
//
// The decisions work without HTTP: Verify, Login, Refresh, Mint, Revoke,
// Logout. Run(ctx) purges expired records in the background; nothing starts
// a goroutine on its own.
//
// Other packages plug in through Config.Authenticators (package apikey adds
// an Authenticator for API keys), Config.IsAdmin (package rbac decides who
// is an administrator), Config.Providers (an LDAP login, say) and
// Config.Audit (an audit sink; AuditLog is a bounded in-memory one).
//
// # Tokens and the token DB
//
// An access token is an EdDSA JWT with header typ "at+jwt" and a kid naming
// a key in the KeySet. Its claims carry the token DB fields: cid (client),
// r (roles), cts and ets (created and expires, RFC 3339 UTC), rcid (who
// requested it), tid (the token id and jti: 128 bits from crypto/rand).
// Every issued token has a TokenRecord in the Store, and a token is valid
// only while its record exists and agrees with it. Revocation deletes
// records: one token, all of a client's, all issued to a client before a
// time, all of a login session (family), or all.
//
// Verified tokens are cached by their exact string, so a repeated token
// skips the signature check and the store. Revoke removes matching entries
// before it returns, and a generation counter keeps a verification that
// raced the revocation from re-adding one, so revocation stays immediate.
// Hosts running several instances over one shared store call Invalidate
// when another instance revokes.
//
// Assert signs identity assertions (typ "portico-identity+jwt"): minute-long
// statements of who a caller is, for one audience, that package extension
// forwards to extension services in place of the caller's credentials.
// They are not credentials; Verify refuses them.
//
// Refresh tokens are JWTs with typ "rt+jwt", stored only as SHA-256 hashes,
// and rotated on every use. A spent refresh token presented again after
// Config.RefreshGrace revokes its whole family.
//
// # Threat model
//
// Verification fails closed. The algorithm is pinned to EdDSA (alg "none",
// HS256 keyed with the public key and every other algorithm are refused);
// exp is required; iss and aud must match; nbf is honoured; leeway is
// bounded (at most MaxLeeway); tokens larger than Config.MaxTokenSize are
// refused before any parsing; the kid is a bounded opaque map key; jwk,
// jku, x5u and x5c headers are never read, so a token cannot name its own
// key. The typ header keeps refresh tokens from passing as access tokens.
// A well-signed token without a record (revoked, logged out, client
// disabled or deleted) is refused.
//
// Passwords are hashed with Argon2id; an unknown username costs the same
// hash work as a wrong password. Failed logins per client IP and username
// are limited (Config.LoginAttempts per Config.LoginWindow) with a 429 and
// Retry-After. The client IP is RemoteAddr unless the host supplies
// Config.ClientIP: no forwarded header is trusted by default. TOTP codes are
// accepted once each (the last used time step is stored).
//
// Nothing here logs or audits a token, password, refresh token or secret.
// Error bodies are JSON {"error", "code"} with public messages only; store
// failures are logged and answered 500.
//
// What it does not defend against: a stolen access token is valid until it
// expires or is revoked (keep AccessTTL short); TOTP secrets are kept in the
// Store in the clear, as the algorithm needs them; role changes reach a
// client's tokens on refresh or re-login, not instantly.
//
// # Storage
//
// Store is a small context-first interface (TokenStore, RefreshStore,
// ClientStore). MemoryStore is the default; authtest.RunStore is the
// conformance suite every implementation must pass.
package auth
