// Package portico is an embeddable control plane for platform APIs: who the
// caller is, what it may do, how often, which extension services sit behind
// the platform, what the whole API looks like, and the long-running work it
// runs.
//
// Portico is a set of net/http packages, not a framework. A host imports the
// ones it needs and mounts their middleware and handlers on its own mux:
//
//   - auth: Ed25519-signed JWTs with key rotation and JWKS, a token DB with
//     exact, immediate revocation, clients (users and services) with roles,
//     login with passwords, TOTP MFA and external OIDC, refresh and logout,
//     the Authenticate middleware and the Principal it puts in the context.
//
//   - rbac: roles of allow and deny patterns with NATS wildcards, group
//     assignments, precomputed decisions, the Require middleware.
//
//   - apikey: API keys hashed at rest, authenticating like tokens and
//     exchanged for NATS credentials that revoking the key revokes.
//
//   - ratelimit: token buckets per client IP, principal, API key, route
//     class or endpoint prefix, checked atomically in one pass; client IPs
//     through trusted proxies only; X-RateLimit-* and IETF RateLimit
//     headers, and a 429 with an exact Retry-After.
//
//   - extension: the registry of extension services, their health, and the
//     proxy to them, which forwards a signed identity assertion in place of
//     the caller's credentials.
//
//   - openapi: one OpenAPI document from the platform's and every
//     extension's, served with an ETag and Swagger UI.
//
//   - orchestrator: tasks, workflows and batches as DAGs, with parallel
//     limits, retries, cancel, progress, checkpoints and rollback,
//     snapshots, an event log over SSE and WebSocket, and signed webhooks.
//
//   - sqlstore: every package's Store over SQLite (one instance) or
//     PostgreSQL (several instances, caches kept honest through
//     LISTEN/NOTIFY, orchestrator work claimed by one engine).
//
// Every package follows the same conventions: New(Config) with a safe zero
// value; middleware shaped func(http.Handler) http.Handler around a decision
// that works without HTTP; a small context-first Store interface with an
// in-memory default and an exported conformance suite; errors as sentinels
// and typed values, mapped to HTTP in one place, with JSON bodies
// {"error": "...", "code": "..."}; time and randomness as inputs; no
// goroutine without an owner.
//
// examples/server assembles everything into one runnable platform server,
// which is also the reference deployment: go run ./examples/server.
package portico

// Version is the library's version, reported by the example server's /info.
const Version = "0.1.0-dev"
