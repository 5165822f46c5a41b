// Package orchestrator runs tasks, workflows and batches as DAGs: with a
// parallel limit per batch over a bounded worker pool, timeouts, retries
// with backoff, cancellation, progress, checkpoints and rollback, state
// snapshots, an event log (in process, Server-Sent Events and WebSocket)
// and signed webhooks.
//
// # Task types
//
// The host registers task types by name in Config.Types; an operation
// names one, and nothing else can run. A TaskType has a Run handler, an
// optional Compensate used by rollbacks, an optional Validate for its
// arguments (checked at submission, so a bad argument is a 400 before
// anything runs), a timeout, a retry budget, and whether it is
// Idempotent. Handlers report progress with SetProgress(ctx, percent) and
// refuse retries by returning Permanent(err).
//
// # Batches
//
// A Spec is a DAG of operations {id, type, args, dependencies}. Submit
// validates it whole first (ids, types, arguments, unknown, repeated and
// self dependencies, cycles, with the cycle spelled out, and
// Config.MaxOperations) and stores nothing if it is invalid. Then:
//
//   - At most parallel_limit of the batch's operations run at once, on a
//     pool of Config.Workers shared by all batches.
//   - An operation starts once all its dependencies completed. A failed
//     operation's dependents, direct or not, are cancelled without running;
//     independent branches go on.
//   - A failing attempt is retried after Base*2^(n-1) (capped at Max, then
//     jittered) until MaxAttempts; a timeout is a failed attempt.
//   - With rollback_enabled, the first failure stops the batch: nothing
//     else starts, running operations finish, and the completed ones are
//     compensated in reverse completion order.
//   - Cancel: pending operations never start, running ones see their
//     context cancelled, the batch ends cancelled. Nothing is compensated
//     on its own; ExecuteRollback undoes what had completed.
//   - An idempotency key returns the first batch for a repeated
//     submission of the same Spec, and ErrIdempotencyConflict for another.
//
// Every transition of a task is written to the Store, logged as an Event
// and recorded as a Snapshot (the newest Config.SnapshotLimit are kept),
// in one order under the batch's lock.
//
// # Checkpoints and rollback
//
// CreateCheckpoint records which operations have completed. ExecuteRollback
// compensates the operations completed after a checkpoint, or a listed
// set (a partial rollback), in reverse completion order, stopping at the
// first compensation that fails; trying again resumes there. Restore rolls
// back to a checkpoint and runs every operation not in it again.
// RollbackStats sums up count, success rate and average time.
//
// # Events
//
// Every event has a Seq that increases strictly across the log. Subscribe
// delivers the stored events after a Seq and then the live ones, each
// once and in order. A subscriber that falls Config.SubscriberBuffer
// events behind is cut loose and catches up from the store, so a slow
// subscriber never stalls the engine. GET /events serves the log as
// Server-Sent Events (resuming after Last-Event-ID), GET /ws as WebSocket
// messages (resuming after ?since=). Events the store has dropped are
// reported as one events.gap event.
//
// # Webhooks
//
// A webhook receives the events its filter selects ("task.failed",
// "batch.*", "*"), as a POST of the event's JSON signed per Standard
// Webhooks: webhook-id (stable across retries), webhook-timestamp, and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>" keyed
// by the "whsec_" secret. Failed deliveries are retried with backoff. Each
// webhook follows the log on its own, so a slow endpoint delays only
// itself. A webhook created while the engine runs receives the events from
// then on; after a restart, from the restart on.
//
// # Durability and restarts
//
// A Store keeps batches, tasks, snapshots, checkpoints, rollbacks, events
// and webhooks; MemoryStore is the default, and orchestratortest.RunStore
// is the conformance suite of any other. When Run stops, running tasks
// see their context cancelled and stay "running" in the store. The next
// Run recovers them: a task of an Idempotent type is queued again; any
// other fails with "interrupted by a restart", which fails its batch as
// any failure would. Pending tasks run as usual.
//
// # Several engines on one store
//
// Engines on several instances may share a store that is a Claimer (the
// SQL stores of package sqlstore are; so is MemoryStore, for engines in
// one process). The store numbers the one event log they share. Each live
// batch is claimed by one engine, which runs it and renews its lease every
// third of Config.ClaimLease; the others leave it alone. An engine that
// stops releases its batches at once; one that dies without stopping keeps
// them until its lease runs out, and then one other engine takes them over
// under the restart policy above. Cancel answers ErrActive for a batch
// another engine runs. A live event stream carries the events of the
// engine serving it as they happen, and the other engines' events from the
// store when its own next event arrives (or on resume).
//
// # Mounting
//
// Handler serves the API relative to its mount point and does no
// authentication or authorization; the host guards each route (the
// example server gives them rbac permissions). Config.Registerer exports
// Prometheus metrics: tasks by final status, task duration by type, queue
// depth, running tasks, rollbacks and active batches.
//
//	e, err := orchestrator.New(orchestrator.Config{Types: types, Registerer: reg})
//	go e.Run(ctx)
//	mux.Handle("/api/v1/orchestrator/", http.StripPrefix("/api/v1/orchestrator", e.Handler()))
//
// # Threat model
//
// Operations can only name registered task types, and a type's Validate
// sees its arguments before anything is stored; the package never runs
// commands. Submissions are capped in size (Config.MaxBodyBytes) and
// operations (Config.MaxOperations), and validation is linear in the
// DAG's size. Webhook targets on loopback, private, link-local, CGNAT and
// unspecified addresses are refused when the webhook is created (IP
// literals and localhost names) and again when a delivery connects (every
// resolved address), unless WebhookConfig.AllowPrivate; the default
// client follows no redirects and no proxy from the environment. Webhook
// secrets are kept in the store, since signing needs them, and are shown
// only when created. GET /ws checks the Origin against the request's host
// and Config.WebSocketOrigins, so another site's page cannot read the
// stream with a browser's credentials.
package orchestrator
