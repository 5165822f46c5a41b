// Package sqlstore keeps every Portico package's state in a SQL database:
// SQLite (a pure-Go driver, no cgo) for a single instance, PostgreSQL
// (pgx) for several instances sharing one database.
//
// Open a DB, then take the stores from it; each migrates its own tables on
// first use:
//
//	db, err := sqlstore.Open(ctx, dsn, sqlstore.Config{}) // a path, or postgres://…
//	tokens, err := db.Auth(ctx)                           // auth.Store
//	roles, err := db.RBAC(ctx)                            // rbac.Store
//	keys, err := db.APIKey(ctx)                           // apikey.Store
//	exts, err := db.Extension(ctx)                        // extension.Store
//	work, err := db.Orchestrator(ctx)                     // orchestrator.Store and Claimer
//	buckets, err := db.RateLimit(ctx)                     // ratelimit.Store, Sweeper and Reporter
//
// Each store passes its package's conformance suite (authtest.RunStore and
// the others) on both dialects.
//
// # Schema
//
// Migrations are forward-only and versioned per component in the
// portico_schema table. They run in one transaction per call under a lock
// (an advisory lock on PostgreSQL, the write lock on SQLite), so instances
// starting together apply them once. A database whose schema is newer than
// the build is refused (ErrSchemaTooNew). Records are stored as JSON beside
// the columns the stores filter, order and constrain by.
//
// # Several instances
//
// On PostgreSQL, writes that other instances' caches depend on (deleted
// token records, roles and assignments, extensions and settings) record a
// Change in the same transaction, delivered with NOTIFY when it commits.
// Listen hands every instance the others' changes; the write returns only
// after every listening instance has applied and acknowledged it (bounded
// by Config.AckTimeout), so a revocation on one instance is refused by
// the others on their next request. A listener that loses its connection
// reports TopicLost, and TopicReset once it listens again: both mean drop
// every cache.
//
// Orchestrator engines sharing the database claim each batch through the
// orchestrator.Claimer the store implements: one conditional upsert per
// claim, leases renewed by the owning engine, batches of a dead engine
// taken over once its lease runs out.
//
// Rate-limit buckets kept through RateLimit are one limit for every
// instance, where each instance's memory store would allow the whole
// limit. A take is one short transaction that locks its buckets' rows;
// takes on one bucket queue on its row, and on PostgreSQL they commit
// without waiting for a disk flush (losing a crash's last takes gives a
// few tokens back, nothing worse). BenchmarkRateLimitTake measures it.
//
// SQLite is for one instance: two processes may open one file safely (the
// data stays consistent), but they do not see each other's changes, so
// their caches can disagree.
//
// # Threat model
//
// The database holds what the memory stores hold: token records, SHA-256
// hashes of refresh tokens and API keys (never the secrets), password
// hashes (Argon2id), TOTP secrets of clients with MFA, and webhook signing
// secrets (HMAC needs them). Signing keys and nkey seeds are not stored
// here; the example server keeps them in 0600 files. A SQLite file is
// created with mode 0600. Anyone who can write to the database can grant
// themselves anything, as with any control plane's database: restrict it
// to the platform's own credentials. Statements are parameterized; no
// value from a request is spliced into SQL.
package sqlstore
