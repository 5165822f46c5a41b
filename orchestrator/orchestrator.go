package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors returned by the package.
var (
	ErrNotFound = errors.New("orchestrator: not found")
	ErrExists   = errors.New("orchestrator: already exists")
	// ErrIdempotencyConflict is a submission whose idempotency key was
	// used before for a different specification.
	ErrIdempotencyConflict = errors.New("orchestrator: idempotency key reused with a different specification")
	// ErrFinished refuses to cancel a batch that has already ended.
	ErrFinished = errors.New("orchestrator: batch has already finished")
	// ErrActive refuses a rollback or restore while the batch still runs.
	ErrActive = errors.New("orchestrator: batch is still running")
	// ErrStopped is returned by Submit and the rollbacks once Run has
	// returned.
	ErrStopped = errors.New("orchestrator: engine stopped")
)

// InvalidError says why a specification or request was refused.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return "orchestrator: " + e.Field + " " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// permanentError marks a handler's error as not worth retrying.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the task fails at once instead of being
// retried. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// Status is the state of a task or a batch.
type Status string

// The statuses. Pending and Running are live; the others are final.
const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Final reports whether s is an end state.
func (s Status) Final() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Kind says how a batch was submitted. Both kinds are DAGs and run alike.
type Kind string

// The kinds.
const (
	KindBatch    Kind = "batch"
	KindWorkflow Kind = "workflow"
)

// Handler runs one task. It returns the task's output (marshalled to JSON;
// nil for none) or an error. ctx is cancelled when the task times out, its
// batch is cancelled or the engine stops; a handler should return soon
// after. A handler reports progress with SetProgress(ctx, percent).
// Returning an error retries the task while attempts remain, unless the
// error is wrapped with Permanent.
type Handler func(ctx context.Context, t Task) (any, error)

// Compensator undoes a completed task during a rollback. t holds the
// task's output.
type Compensator func(ctx context.Context, t Task) error

// TaskType is what the host registers for a task type name.
type TaskType struct {
	// Run does the work. Required.
	Run Handler
	// Compensate undoes it for a rollback; nil means the type has nothing
	// to undo, and a rollback records the task as not compensated.
	Compensate Compensator
	// Validate checks an operation's args when a batch is submitted, so a
	// bad argument is a 400 before anything runs; nil accepts any.
	Validate func(args json.RawMessage) error
	// Timeout bounds one attempt; zero means Config.TaskTimeout.
	Timeout time.Duration
	// MaxAttempts is how often a failing task is tried; zero means
	// Config.Retry.MaxAttempts.
	MaxAttempts int
	// Idempotent says that running a task of this type twice does no
	// harm: after a restart, a task that was running is queued again
	// instead of failed.
	Idempotent bool
}

// Spec is a submission: a DAG of operations.
type Spec struct {
	Name string `json:"name"`
	// ParallelLimit bounds how many of the batch's operations run at
	// once; zero means Config.DefaultParallelLimit.
	ParallelLimit int `json:"parallel_limit"`
	// RollbackEnabled makes a failure stop the batch and compensate its
	// completed operations in reverse completion order.
	RollbackEnabled bool `json:"rollback_enabled"`
	// IdempotencyKey makes a repeated submission return the first one's
	// batch instead of starting another.
	IdempotencyKey string      `json:"idempotency_key,omitempty"`
	Operations     []Operation `json:"operations"`
}

// Operation is one node of the DAG.
type Operation struct {
	// ID names the operation within its batch: 1-128 bytes of letters,
	// digits, '-', '_', '.' and ':'.
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Args json.RawMessage `json:"args,omitempty"`
	// Dependencies are the ids of the operations that must complete
	// before this one starts.
	Dependencies []string `json:"dependencies,omitempty"`
	// TimeoutMS bounds one attempt; zero means the type's timeout.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// MaxAttempts overrides the type's; zero means the type's.
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// Batch is a submitted DAG, as stored.
type Batch struct {
	ID              string `json:"batch_id"`
	Kind            Kind   `json:"kind"`
	Name            string `json:"name"`
	Status          Status `json:"status"`
	ParallelLimit   int    `json:"parallel_limit"`
	RollbackEnabled bool   `json:"rollback_enabled"`
	IdempotencyKey  string `json:"idempotency_key,omitempty"`
	// Fingerprint is a hash of the specification, to tell a repeated
	// submission from a different one under the same idempotency key.
	Fingerprint string `json:"-"`
	Total       int    `json:"total_steps"`
	// Error says why the batch failed or was cancelled.
	Error string `json:"error,omitempty"`
	// CancelRequested is set once Cancel is called.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// RollbackID is the automatic rollback that followed a failure.
	RollbackID string    `json:"rollback_id,omitempty"`
	Submitter  string    `json:"submitter,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Compensation is what a rollback did to a task.
type Compensation string

// The compensation states.
const (
	// CompensationDone: the type's Compensate succeeded.
	CompensationDone Compensation = "compensated"
	// CompensationFailed: it returned an error.
	CompensationFailed Compensation = "compensation_failed"
	// CompensationNone: the type has no Compensate.
	CompensationNone Compensation = "not_compensated"
)

// Task is one operation of a batch as it runs: what a Handler is given,
// and what the store keeps.
type Task struct {
	ID           string          `json:"task_id"`
	BatchID      string          `json:"batch_id"`
	Operation    string          `json:"id"`
	Index        int             `json:"-"` // the operation's place in the specification
	Type         string          `json:"type"`
	Args         json.RawMessage `json:"args,omitempty"`
	Dependencies []string        `json:"dependencies"`
	Status       Status          `json:"status"`
	// Progress is 0-100 as the handler reported it; 100 once completed.
	Progress    int             `json:"progress"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"max_attempts"`
	Timeout     time.Duration   `json:"-"`
	Output      json.RawMessage `json:"output,omitempty"`
	Error       string          `json:"error,omitempty"`
	// CompletedSeq orders the batch's completions (1, 2, ...); 0 while
	// not completed. Rollbacks run in reverse of it.
	CompletedSeq int          `json:"completed_seq,omitempty"`
	Compensation Compensation `json:"compensation,omitempty"`
	CreatedAt    time.Time    `json:"created_at"`
	StartedAt    time.Time    `json:"started_at,omitzero"`
	FinishedAt   time.Time    `json:"finished_at,omitzero"`
}

func (t Task) clone() Task {
	t.Args = cloneRaw(t.Args)
	t.Output = cloneRaw(t.Output)
	t.Dependencies = slices.Clone(t.Dependencies)
	return t
}

func cloneRaw(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}

// Counts counts tasks by status.
type Counts struct {
	Pending   int `json:"pending"`
	Running   int `json:"running"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
}

func (c *Counts) add(s Status, n int) {
	switch s {
	case StatusPending:
		c.Pending += n
	case StatusRunning:
		c.Running += n
	case StatusCompleted:
		c.Completed += n
	case StatusFailed:
		c.Failed += n
	case StatusCancelled:
		c.Cancelled += n
	}
}

// Snapshot is a batch's state after one transition.
type Snapshot struct {
	Seq        int       `json:"seq"` // 1, 2, ... per batch
	At         time.Time `json:"at"`
	Status     Status    `json:"status"`
	Counts     Counts    `json:"counts"`
	Percent    int       `json:"percent"`
	Transition string    `json:"transition"` // "build: running -> completed"
}

// Checkpoint is a named record of what a batch had completed.
type Checkpoint struct {
	ID      string `json:"checkpoint_id"`
	BatchID string `json:"batch_id"`
	Name    string `json:"name"`
	// Completed lists the operations completed (and not compensated) when
	// the checkpoint was taken, in completion order.
	Completed []string  `json:"completed"`
	CreatedAt time.Time `json:"created_at"`
}

// RollbackStep is one task a rollback visited.
type RollbackStep struct {
	Operation string       `json:"id"`
	Result    Compensation `json:"result"`
	Error     string       `json:"error,omitempty"`
}

// Rollback is one run of compensations.
type Rollback struct {
	ID      string `json:"rollback_id"`
	BatchID string `json:"batch_id"`
	// Reason is "failure" (automatic), "execute" or "restore".
	Reason       string         `json:"reason"`
	CheckpointID string         `json:"checkpoint_id,omitempty"`
	Status       Status         `json:"status"` // completed, or failed if a compensation failed
	Steps        []RollbackStep `json:"steps"`
	StartedAt    time.Time      `json:"started_at"`
	FinishedAt   time.Time      `json:"finished_at"`
}

// Event is one entry of the event log.
type Event struct {
	// Seq increases strictly across the log: a subscriber resumes after
	// the last one it saw.
	Seq       uint64          `json:"seq"`
	Type      string          `json:"event_type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// The event types.
const (
	EventBatchSubmitted    = "batch.submitted"
	EventBatchCompleted    = "batch.completed"
	EventBatchFailed       = "batch.failed"
	EventBatchCancelled    = "batch.cancelled"
	EventTaskStarted       = "task.started"
	EventTaskProgress      = "task.progress"
	EventTaskRetrying      = "task.retrying"
	EventTaskCompleted     = "task.completed"
	EventTaskFailed        = "task.failed"
	EventTaskCancelled     = "task.cancelled"
	EventCheckpointCreated = "checkpoint.created"
	EventRollbackCompleted = "rollback.completed"
	EventRollbackFailed    = "rollback.failed"
	// EventGap tells a subscriber that events it asked for are no longer
	// kept: data {"from": first missing seq, "to": last missing seq}.
	EventGap = "events.gap"
)

// Webhook is an endpoint that receives events.
type Webhook struct {
	ID  string `json:"webhook_id"`
	URL string `json:"url"`
	// Events filters what is sent: exact types, "task.*" for a family, or
	// "*" for all. Empty means all.
	Events []string `json:"events"`
	// Secret is the signing secret, "whsec_" and base64. It is shown when
	// the webhook is created and never again.
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}
