package orchestrator

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-dev/portico/internal/periodic"
)

// Defaults for the Config fields left zero.
const (
	DefaultWorkers              = 64
	DefaultParallelLimit        = 10
	DefaultMaxParallelLimit     = 1000
	DefaultMaxOperations        = 10_000
	DefaultTaskTimeout          = 5 * time.Minute
	DefaultMaxTaskTimeout       = time.Hour
	DefaultSnapshotLimit        = 100
	DefaultSubscriberBuffer     = 1024
	DefaultRetryAttempts        = 3
	DefaultRetryBase            = time.Second
	DefaultRetryMax             = time.Minute
	DefaultCompensationTimeout  = 5 * time.Minute
	DefaultMaxBodyBytes         = 8 << 20
	DefaultClaimLease           = 30 * time.Second
	defaultKeepAlive            = 15 * time.Second
	maxAttempts                 = 100
	defaultWebhookAttempts      = 5
	defaultWebhookTimeout       = 10 * time.Second
	defaultWebhookBackoffBase   = 5 * time.Second
	defaultWebhookBackoffFactor = 6
)

// Config configures an Engine. The zero value is an engine with no task
// types, an in-memory store and the defaults below.
type Config struct {
	// Store keeps the engine's state; nil means NewMemoryStore().
	Store Store
	// Types are the task types operations may name. Required for any
	// batch to be accepted.
	Types map[string]TaskType
	// Workers is the size of the worker pool: how many tasks run at once
	// across all batches. Zero means DefaultWorkers.
	Workers int
	// DefaultParallelLimit applies to a batch whose parallel_limit is 0;
	// zero means DefaultParallelLimit.
	DefaultParallelLimit int
	// MaxParallelLimit is the highest parallel_limit accepted; zero means
	// DefaultMaxParallelLimit.
	MaxParallelLimit int
	// MaxOperations caps the operations of one batch; zero means
	// DefaultMaxOperations. A larger batch is refused with 400.
	MaxOperations int
	// TaskTimeout bounds one attempt of a task whose type and operation
	// set none; zero means DefaultTaskTimeout.
	TaskTimeout time.Duration
	// MaxTaskTimeout is the longest timeout_ms an operation may ask for;
	// zero means DefaultMaxTaskTimeout.
	MaxTaskTimeout time.Duration
	// CompensationTimeout bounds one compensation; zero means
	// DefaultCompensationTimeout.
	CompensationTimeout time.Duration
	// Retry is the retry policy of failing tasks.
	Retry RetryPolicy
	// SnapshotLimit is how many snapshots a batch keeps; zero means
	// DefaultSnapshotLimit.
	SnapshotLimit int
	// SubscriberBuffer is how many events a subscriber may fall behind
	// before it is switched to reading from the store; zero means
	// DefaultSubscriberBuffer.
	SubscriberBuffer int
	// Webhooks configures the delivery of events to webhooks.
	Webhooks WebhookConfig
	// Registerer, if set, gets the engine's Prometheus metrics.
	Registerer prometheus.Registerer
	// MaxBodyBytes caps a submission's body; zero means
	// DefaultMaxBodyBytes. Other bodies are capped at 1 MB.
	MaxBodyBytes int64
	// Submitter names the caller of a submission for Batch.Submitter
	// (with package auth, the principal's subject); nil records none.
	Submitter func(*http.Request) string
	// WebSocketOrigins are the origins, as host patterns (path.Match),
	// allowed to open GET /ws from a browser besides the server's own;
	// nil allows only the same origin.
	WebSocketOrigins []string
	// EventKeepAlive is how often an idle event stream gets a keep-alive
	// (an SSE comment, a WebSocket ping); zero means 15 seconds.
	EventKeepAlive time.Duration
	// Instance names this engine among the engines sharing a store that
	// is a Claimer; zero means a random name.
	Instance string
	// ClaimLease is how long a batch's claim lasts unrenewed (see
	// Claimer); zero means DefaultClaimLease. The engine renews its
	// claims and looks for batches no engine holds every third of it,
	// so a batch whose engine died is taken over within about a lease
	// and a third. One whose engine stopped is released at once.
	ClaimLease time.Duration
	// Now is the clock; nil means time.Now. Timers (retries, timeouts)
	// use the runtime's clock, which testing/synctest controls.
	Now func() time.Time
	// Logger logs failures of the store and of webhooks; nil means
	// slog.Default().
	Logger *slog.Logger
}

// RetryPolicy says how often and how soon a failing task is tried again.
// The n-th retry waits Base * 2^(n-1), at most Max, then Jitter.
type RetryPolicy struct {
	// MaxAttempts is how often a task is tried in all; zero means
	// DefaultRetryAttempts, 1 means no retries.
	MaxAttempts int
	// Base is the first delay; zero means DefaultRetryBase.
	Base time.Duration
	// Max caps a delay; zero means DefaultRetryMax.
	Max time.Duration
	// Jitter spreads a delay so that failures do not retry in lockstep;
	// nil means EqualJitter.
	Jitter func(time.Duration) time.Duration
}

// EqualJitter returns a duration drawn uniformly from [d/2, d].
func EqualJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + mrand.N(d/2+1)
}

// Delay returns how long to wait before attempt n+1 after n attempts
// failed (n >= 1).
func (p RetryPolicy) Delay(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return p.Jitter(min(d, p.Max))
}

// WebhookConfig configures webhook delivery.
type WebhookConfig struct {
	// AllowPrivate lets webhooks target loopback, private, link-local
	// and other non-public addresses. Off, such a target is refused when
	// the webhook is created and again when a delivery connects, so a
	// name that later resolves to one is refused too.
	AllowPrivate bool
	// Client sends deliveries; nil means a client with Timeout whose
	// dialer enforces AllowPrivate and that follows no redirects. A
	// custom client must enforce them itself.
	Client *http.Client
	// Timeout bounds one delivery; zero means 10 seconds.
	Timeout time.Duration
	// MaxAttempts is how often a delivery is tried; zero means 5.
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after n failed; nil means
	// 5s, 30s, 3m, 18m, with EqualJitter.
	Backoff func(n int) time.Duration
}

// Engine runs batches of tasks. Create it with New, start it with Run.
type Engine struct {
	cfg     Config
	store   Store
	types   map[string]TaskType
	log     *slog.Logger
	now     func() time.Time
	hub     *hub
	metrics *metrics
	q       queue
	hooks   *webhooks
	claims  Claimer // nil unless the store is one

	base context.Context // cancelled when Run returns
	stop context.CancelFunc

	mu      sync.Mutex
	runs    map[string]*run
	rolling map[string]bool // batches a rollback or restore holds

	recovered chan struct{}  // closed once Run has recovered the store's batches
	serving   chan struct{}  // closed once Run serves
	wg        sync.WaitGroup // rollbacks in flight
	started   atomic.Bool
	active    atomic.Bool
}

// New returns an Engine. It starts nothing: call Run.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for _, f := range []struct {
		v    *int
		def  int
		name string
	}{
		{&cfg.Workers, DefaultWorkers, "Workers"},
		{&cfg.DefaultParallelLimit, DefaultParallelLimit, "DefaultParallelLimit"},
		{&cfg.MaxParallelLimit, DefaultMaxParallelLimit, "MaxParallelLimit"},
		{&cfg.MaxOperations, DefaultMaxOperations, "MaxOperations"},
		{&cfg.SnapshotLimit, DefaultSnapshotLimit, "SnapshotLimit"},
		{&cfg.SubscriberBuffer, DefaultSubscriberBuffer, "SubscriberBuffer"},
		{&cfg.Retry.MaxAttempts, DefaultRetryAttempts, "Retry.MaxAttempts"},
		{&cfg.Webhooks.MaxAttempts, defaultWebhookAttempts, "Webhooks.MaxAttempts"},
	} {
		if *f.v < 0 {
			return nil, fmt.Errorf("orchestrator: Config.%s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&cfg.TaskTimeout, DefaultTaskTimeout, "TaskTimeout"},
		{&cfg.MaxTaskTimeout, DefaultMaxTaskTimeout, "MaxTaskTimeout"},
		{&cfg.CompensationTimeout, DefaultCompensationTimeout, "CompensationTimeout"},
		{&cfg.Retry.Base, DefaultRetryBase, "Retry.Base"},
		{&cfg.Retry.Max, DefaultRetryMax, "Retry.Max"},
		{&cfg.Webhooks.Timeout, defaultWebhookTimeout, "Webhooks.Timeout"},
		{&cfg.EventKeepAlive, defaultKeepAlive, "EventKeepAlive"},
		{&cfg.ClaimLease, DefaultClaimLease, "ClaimLease"},
	} {
		if *f.v < 0 {
			return nil, fmt.Errorf("orchestrator: Config.%s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, errors.New("orchestrator: Config.MaxBodyBytes must not be negative")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.DefaultParallelLimit > cfg.MaxParallelLimit {
		return nil, errors.New("orchestrator: Config.DefaultParallelLimit is above MaxParallelLimit")
	}
	if cfg.Retry.MaxAttempts > maxAttempts {
		return nil, fmt.Errorf("orchestrator: Config.Retry.MaxAttempts is above %d", maxAttempts)
	}
	if cfg.Retry.Jitter == nil {
		cfg.Retry.Jitter = EqualJitter
	}
	if cfg.Webhooks.Backoff == nil {
		cfg.Webhooks.Backoff = func(n int) time.Duration {
			d := defaultWebhookBackoffBase
			for i := 1; i < n; i++ {
				d *= defaultWebhookBackoffFactor
			}
			return EqualJitter(d)
		}
	}
	types := make(map[string]TaskType, len(cfg.Types))
	for name, tt := range cfg.Types {
		if name == "" || len(name) > maxTypeName {
			return nil, fmt.Errorf("orchestrator: task type name %q must be 1-%d bytes", name, maxTypeName)
		}
		if tt.Run == nil {
			return nil, fmt.Errorf("orchestrator: task type %q has no Run", name)
		}
		if tt.Timeout < 0 || tt.MaxAttempts < 0 || tt.MaxAttempts > maxAttempts {
			return nil, fmt.Errorf("orchestrator: task type %q has a negative timeout or attempts out of range", name)
		}
		types[name] = tt
	}
	e := &Engine{
		cfg:   cfg,
		store: cfg.Store,
		types: types,
		log:   cfg.Logger,
		now:   cfg.Now,
		runs:  map[string]*run{},

		recovered: make(chan struct{}),
		serving:   make(chan struct{}),
	}
	e.claims, _ = cfg.Store.(Claimer)
	if e.cfg.Instance == "" {
		e.cfg.Instance = newID("eng_")
	}
	e.base, e.stop = context.WithCancel(context.Background())
	e.q.init()
	e.hub = newHub(e)
	m, err := newMetrics(e, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	e.hooks = newWebhooks(e)
	return e, nil
}

// Run starts the workers, recovers the batches a previous process left
// unfinished, delivers webhooks, and blocks until ctx is done. Then it
// stops: running tasks see their context cancelled and are left as
// running in the store, for the next Run to recover. Run may be called
// once.
//
// Recovery: a task that was running when the process stopped is queued
// again if its type is Idempotent, and failed ("interrupted by a
// restart") otherwise, which then fails the batch as any failure would
// (dependents do not run; with rollback_enabled, the completed tasks are
// compensated). Pending tasks simply run.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("orchestrator: Run called twice")
	}
	defer e.stop()
	if err := e.hub.load(ctx); err != nil {
		return err
	}
	if err := e.recover(ctx); err != nil {
		return err
	}
	close(e.recovered)
	var workers sync.WaitGroup
	for range e.cfg.Workers {
		workers.Go(e.work)
	}
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		e.hooks.run(e.base)
	}()
	claimsDone := make(chan struct{})
	go func() {
		defer close(claimsDone)
		e.keepClaims(e.base)
	}()
	e.active.Store(true)
	close(e.serving)
	select {
	case <-ctx.Done():
	case <-e.base.Done():
	}
	e.active.Store(false)
	e.stop()
	e.q.close()
	workers.Wait()
	e.wg.Wait()
	<-hooksDone
	<-claimsDone
	// Hand the unfinished batches to the other engines now, not a lease
	// from now.
	e.mu.Lock()
	ids := slices.Collect(maps.Keys(e.runs))
	e.mu.Unlock()
	for _, id := range ids {
		e.release(id)
	}
	return nil
}

// claim claims batch id for this engine, when the store is a Claimer.
func (e *Engine) claim(ctx context.Context, id string) (bool, error) {
	if e.claims == nil {
		return true, nil
	}
	now := e.now()
	ok, err := e.claims.Claim(ctx, id, e.cfg.Instance, now, now.Add(e.cfg.ClaimLease))
	if err != nil {
		return false, fmt.Errorf("orchestrator: claiming batch %s: %w", id, err)
	}
	return ok, nil
}

// release gives up this engine's claim on batch id.
func (e *Engine) release(id string) {
	if e.claims != nil {
		e.storeErr(e.claims.ReleaseClaim(context.Background(), id, e.cfg.Instance), "releasing a claim")
	}
}

// keepClaims renews this engine's claims and takes over the live batches
// nobody holds, every third of the lease, until ctx is done.
func (e *Engine) keepClaims(ctx context.Context) {
	if e.claims == nil {
		return
	}
	_ = periodic.Run(ctx, e.cfg.ClaimLease/3, func(ctx context.Context) {
		held, err := e.claims.RenewClaims(ctx, e.cfg.Instance, e.now().Add(e.cfg.ClaimLease))
		if err != nil {
			e.storeErr(err, "renewing claims")
			return
		}
		e.mu.Lock()
		for id := range e.runs {
			if _, ok := slices.BinarySearch(held, id); !ok {
				e.log.Error("orchestrator: another engine took over a batch this one runs; its lease ran out unrenewed", "batch", id, "instance", e.cfg.Instance)
			}
		}
		e.mu.Unlock()
		if err := e.recover(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("orchestrator: taking over batches", "err", err)
		}
	})
}

// Started returns a channel closed once Run has recovered the store's
// batches and serves: from then on Running reports true until it stops.
func (e *Engine) Started() <-chan struct{} { return e.serving }

// Running reports whether Run is serving.
func (e *Engine) Running() bool { return e.active.Load() }

func (e *Engine) work() {
	for {
		j, ok := e.q.pop()
		if !ok {
			return
		}
		j.r.exec(j.i)
	}
}

// Submit validates a specification and starts it as a batch of the given
// kind. With an idempotency key already used for the same specification,
// it returns that batch and created false; for a different one,
// ErrIdempotencyConflict. An invalid specification is an *InvalidError
// and nothing is stored. The batch runs once Run has started.
func (e *Engine) Submit(ctx context.Context, kind Kind, s Spec, submitter string) (b Batch, created bool, err error) {
	if e.base.Err() != nil {
		return Batch{}, false, ErrStopped
	}
	if kind != KindBatch && kind != KindWorkflow {
		return Batch{}, false, invalid("kind", "must be batch or workflow")
	}
	g, err := e.validate(s)
	if err != nil {
		return Batch{}, false, err
	}
	fp := fingerprint(kind, s)
	if s.IdempotencyKey != "" {
		if b, ok, err := e.repeated(ctx, s.IdempotencyKey, fp); ok || err != nil {
			return b, false, err
		}
	}
	now := e.now()
	b = Batch{
		ID: newID("b_"), Kind: kind, Name: s.Name, Status: StatusPending,
		ParallelLimit: s.ParallelLimit, RollbackEnabled: s.RollbackEnabled,
		IdempotencyKey: s.IdempotencyKey, Fingerprint: fp, Total: len(s.Operations),
		Submitter: submitter, CreatedAt: now,
	}
	if b.ParallelLimit == 0 {
		b.ParallelLimit = e.cfg.DefaultParallelLimit
	}
	tasks := make([]Task, len(s.Operations))
	for i, op := range s.Operations {
		tt := e.types[op.Type]
		t := Task{
			ID: b.ID + "." + strconv.Itoa(i), BatchID: b.ID, Operation: op.ID, Index: i,
			Type: op.Type, Args: op.Args, Dependencies: op.Dependencies, Status: StatusPending,
			MaxAttempts: firstNonZero(op.MaxAttempts, tt.MaxAttempts, e.cfg.Retry.MaxAttempts),
			Timeout:     time.Duration(op.TimeoutMS) * time.Millisecond,
			CreatedAt:   now,
		}
		if t.Timeout == 0 {
			t.Timeout = orDuration(tt.Timeout, e.cfg.TaskTimeout)
		}
		if t.Dependencies == nil {
			t.Dependencies = []string{}
		}
		tasks[i] = t
	}
	if ok, err := e.claim(ctx, b.ID); err != nil || !ok {
		return Batch{}, false, cmp.Or(err, ErrExists)
	}
	if err := e.store.CreateBatch(ctx, b, tasks); err != nil {
		e.release(b.ID)
		if errors.Is(err, ErrExists) && s.IdempotencyKey != "" {
			if b, ok, err := e.repeated(ctx, s.IdempotencyKey, fp); ok || err != nil {
				return b, false, err
			}
		}
		return Batch{}, false, err
	}
	e.hub.publish(EventBatchSubmitted, batchEvent(b))
	if r := e.newRun(b, tasks, g); r != nil {
		r.start()
		return r.snapshotBatch(), true, nil
	}
	return b, true, nil
}

// repeated looks up an earlier submission under key: ok if there is one
// for the same specification, ErrIdempotencyConflict for another.
func (e *Engine) repeated(ctx context.Context, key, fp string) (Batch, bool, error) {
	b, err := e.store.BatchByKey(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		return Batch{}, false, nil
	case err != nil:
		return Batch{}, false, err
	case b.Fingerprint != fp:
		return Batch{}, false, ErrIdempotencyConflict
	}
	return b, true, nil
}

// fingerprint hashes what a submission asks for, its key aside.
func fingerprint(kind Kind, s Spec) string {
	s.IdempotencyKey = ""
	b, _ := json.Marshal(struct {
		Kind Kind
		Spec Spec
	}{kind, s})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Cancel cancels a batch: pending tasks never start, running ones see
// their context cancelled, and the batch ends cancelled once they have
// returned. A finished batch is ErrFinished.
func (e *Engine) Cancel(ctx context.Context, id string) (Batch, error) {
	e.mu.Lock()
	r := e.runs[id]
	e.mu.Unlock()
	if r == nil {
		b, err := e.store.GetBatch(ctx, id)
		if err != nil {
			return Batch{}, err
		}
		if b.Status.Final() {
			return b, ErrFinished
		}
		return b, ErrActive // stored as live, run elsewhere or not yet recovered
	}
	return r.cancelRun()
}

// Batch returns a batch and its tasks.
func (e *Engine) Batch(ctx context.Context, id string) (Batch, []Task, error) {
	b, err := e.store.GetBatch(ctx, id)
	if err != nil {
		return Batch{}, nil, err
	}
	tasks, err := e.store.Tasks(ctx, id)
	return b, tasks, err
}

// Task returns one task.
func (e *Engine) Task(ctx context.Context, id string) (Task, error) { return e.store.GetTask(ctx, id) }

// Wait blocks until the batch has finished, ctx is done or the engine
// stops, and returns the batch as it then is.
//
// A batch left unfinished by an earlier process is waited for once Run
// has recovered it.
func (e *Engine) Wait(ctx context.Context, id string) (Batch, error) {
	for {
		e.mu.Lock()
		r := e.runs[id]
		e.mu.Unlock()
		if r != nil {
			select {
			case <-r.done:
			case <-ctx.Done():
				return Batch{}, ctx.Err()
			case <-e.base.Done():
			}
			return e.store.GetBatch(ctx, id)
		}
		b, err := e.store.GetBatch(ctx, id)
		if err != nil || b.Status.Final() {
			return b, err
		}
		select {
		case <-e.recovered:
			if e.runOf(id) == nil {
				// Finished meanwhile, or run by another engine.
				return e.store.GetBatch(ctx, id)
			}
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		case <-e.base.Done():
			return b, nil
		}
	}
}

func (e *Engine) runOf(id string) *run {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[id]
}

// recover restarts the batches the store holds as pending or running.
func (e *Engine) recover(ctx context.Context) error {
	for _, st := range []Status{StatusRunning, StatusPending} {
		batches, _, err := e.store.ListBatches(ctx, BatchFilter{Status: st})
		if err != nil {
			return fmt.Errorf("orchestrator: recovering batches: %w", err)
		}
		for _, b := range batches {
			e.mu.Lock()
			_, live := e.runs[b.ID]
			e.mu.Unlock()
			if live {
				continue
			}
			if ok, err := e.claim(ctx, b.ID); err != nil || !ok {
				if err != nil {
					return err
				}
				continue // another engine runs it
			}
			if err := e.resume(ctx, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// resume rebuilds a batch's run from the store and starts it. Tasks left
// running by a stopped process are recovered by the policy Run
// documents.
func (e *Engine) resume(ctx context.Context, b Batch) error {
	tasks, err := e.store.Tasks(ctx, b.ID)
	if err != nil {
		return fmt.Errorf("orchestrator: loading batch %s: %w", b.ID, err)
	}
	ops := make([]Operation, len(tasks))
	for i := range tasks {
		t := &tasks[i]
		if t.Status == StatusRunning {
			tt, ok := e.types[t.Type]
			switch {
			case !ok:
				t.Status, t.Error = StatusFailed, "task type "+t.Type+" is no longer registered"
			case tt.Idempotent:
				t.Status = StatusPending
			default:
				t.Status, t.Error = StatusFailed, "interrupted by a restart; the task type is not idempotent"
			}
			if t.Status == StatusFailed {
				t.FinishedAt = e.now()
			}
			if err := e.store.UpdateTask(ctx, *t); err != nil {
				return err
			}
		}
		ops[i] = Operation{ID: t.Operation, Dependencies: t.Dependencies}
	}
	g, err := link(ops)
	if err != nil {
		return fmt.Errorf("orchestrator: batch %s in the store: %w", b.ID, err)
	}
	if r := e.newRun(b, tasks, g); r != nil {
		r.start()
	}
	return nil
}

// firstNonZero returns the first of vs that is not zero.
func firstNonZero(vs ...int) int {
	for _, v := range vs {
		if v != 0 {
			return v
		}
	}
	return 0
}

func orDuration(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}

// queue is the engine's unbounded FIFO of tasks ready to run.
type queue struct {
	mu     sync.Mutex
	cond   sync.Cond
	jobs   []job
	head   int
	closed bool
}

type job struct {
	r *run
	i int32
}

func (q *queue) init() { q.cond.L = &q.mu }

func (q *queue) push(j job) {
	q.mu.Lock()
	if !q.closed {
		q.jobs = append(q.jobs, j)
		q.cond.Signal()
	}
	q.mu.Unlock()
}

func (q *queue) pop() (job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == len(q.jobs) && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return job{}, false
	}
	j := q.jobs[q.head]
	q.jobs[q.head] = job{}
	q.head++
	if q.head == len(q.jobs) {
		q.jobs, q.head = q.jobs[:0], 0
	} else if q.head > 1024 && q.head > len(q.jobs)/2 {
		q.jobs = append(q.jobs[:0], q.jobs[q.head:]...)
		q.head = 0
	}
	return j, true
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs) - q.head
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}
