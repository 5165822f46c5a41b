package orchestrator

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Store keeps batches, tasks, snapshots, checkpoints, rollbacks, events
// and webhooks. Every method is safe for concurrent use; every value goes
// in and comes out as a copy. A missing record is ErrNotFound.
type Store interface {
	// CreateBatch stores a batch and its tasks at once. A batch whose id,
	// or whose non-empty idempotency key, is already taken is ErrExists
	// and stores nothing.
	CreateBatch(ctx context.Context, b Batch, tasks []Task) error
	GetBatch(ctx context.Context, id string) (Batch, error)
	// BatchByKey finds a batch by its idempotency key.
	BatchByKey(ctx context.Context, key string) (Batch, error)
	// UpdateBatch replaces a stored batch.
	UpdateBatch(ctx context.Context, b Batch) error
	// ListBatches returns the batches the filter selects, newest first,
	// and how many it selects in all.
	ListBatches(ctx context.Context, f BatchFilter) ([]Batch, int, error)

	GetTask(ctx context.Context, id string) (Task, error)
	// UpdateTask replaces a stored task.
	UpdateTask(ctx context.Context, t Task) error
	// Tasks returns a batch's tasks in specification order (by Index).
	Tasks(ctx context.Context, batchID string) ([]Task, error)
	// ListTasks returns the tasks the filter selects, newest batch first
	// and in specification order within a batch, and how many it selects.
	ListTasks(ctx context.Context, f TaskFilter) ([]Task, int, error)

	// AppendSnapshot adds a snapshot to a batch's list and drops the
	// oldest beyond keep.
	AppendSnapshot(ctx context.Context, batchID string, s Snapshot, keep int) error
	// Snapshots returns a batch's snapshots, oldest first.
	Snapshots(ctx context.Context, batchID string) ([]Snapshot, error)

	CreateCheckpoint(ctx context.Context, c Checkpoint) error
	GetCheckpoint(ctx context.Context, id string) (Checkpoint, error)
	// ListCheckpoints returns a batch's checkpoints (all of them for ""),
	// oldest first.
	ListCheckpoints(ctx context.Context, batchID string) ([]Checkpoint, error)

	// PutRollback creates or replaces a rollback.
	PutRollback(ctx context.Context, r Rollback) error
	GetRollback(ctx context.Context, id string) (Rollback, error)
	// ListRollbacks returns every rollback, oldest first.
	ListRollbacks(ctx context.Context) ([]Rollback, error)

	// AppendEvent adds an event, numbering it: its Seq (e.Seq is ignored)
	// is above every stored one, and is returned. Engines sharing a store
	// share one log, so the store, not the engine, numbers it; an event
	// becomes visible to Events only with every lower Seq already visible.
	AppendEvent(ctx context.Context, e Event) (uint64, error)
	// Events returns up to limit events with Seq > after, in order. A
	// store may drop old events; the first returned then skips ahead.
	Events(ctx context.Context, after uint64, limit int) ([]Event, error)
	// LastEventSeq returns the highest stored Seq, 0 for none.
	LastEventSeq(ctx context.Context) (uint64, error)

	CreateWebhook(ctx context.Context, w Webhook) error
	DeleteWebhook(ctx context.Context, id string) error
	// ListWebhooks returns the webhooks, secrets included, oldest first.
	ListWebhooks(ctx context.Context) ([]Webhook, error)
}

// Claimer is the Store capability that lets several engines share one
// store: each live batch is claimed by the one engine that runs it, under
// a lease the engine renews while it runs. An engine runs, recovers and
// takes over only the batches it holds a claim on. MemoryStore implements
// it (engines in one process may share one), and so do the SQL stores.
type Claimer interface {
	// Claim gives owner the claim on batch id until until, if nobody
	// holds it, its holder's lease ran out before now, or owner holds it
	// already; it reports whether owner now holds it. Two concurrent
	// claims of one batch never both succeed.
	Claim(ctx context.Context, id, owner string, now, until time.Time) (bool, error)
	// RenewClaims extends every claim owner holds to until and returns
	// the ids of the batches it holds.
	RenewClaims(ctx context.Context, owner string, until time.Time) ([]string, error)
	// ReleaseClaim drops owner's claim on id; a claim owner does not hold
	// is left alone.
	ReleaseClaim(ctx context.Context, id, owner string) error
}

// BatchFilter selects batches. Zero fields select all; Limit 0 means no
// limit.
type BatchFilter struct {
	Status Status
	Kind   Kind
	Limit  int
	Offset int
}

// TaskFilter selects tasks. Zero fields select all; Limit 0 means no limit.
type TaskFilter struct {
	BatchID string
	Status  Status
	Limit   int
	Offset  int
}

// MemoryStore is the in-memory Store. It keeps every batch, and the
// newest EventRetention events.
type MemoryStore struct {
	// EventRetention is how many events are kept; zero means
	// DefaultEventRetention. Set it before the store is used.
	EventRetention int

	mu          sync.Mutex
	batches     map[string]*memBatch
	order       []*memBatch // by creation
	keys        map[string]string
	tasks       map[string]*Task
	checkpoints map[string]Checkpoint
	cpOrder     []string
	rollbacks   map[string]Rollback
	rbOrder     []string
	events      []Event // a ring once full
	lastSeq     uint64
	claims      map[string]memClaim
	eventStart  int
	webhooks    []Webhook
}

type memBatch struct {
	b         Batch
	tasks     []*Task
	snapshots []Snapshot
}

// DefaultEventRetention is how many events a MemoryStore keeps.
const DefaultEventRetention = 100_000

var (
	_ Store   = (*MemoryStore)(nil)
	_ Claimer = (*MemoryStore)(nil)
)

type memClaim struct {
	owner string
	until time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		batches:     map[string]*memBatch{},
		keys:        map[string]string{},
		tasks:       map[string]*Task{},
		checkpoints: map[string]Checkpoint{},
		rollbacks:   map[string]Rollback{},
		claims:      map[string]memClaim{},
	}
}

// Claim implements Claimer.
func (m *MemoryStore) Claim(_ context.Context, id, owner string, now, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.claims[id]; ok && c.owner != owner && c.until.After(now) {
		return false, nil
	}
	m.claims[id] = memClaim{owner, until}
	return true, nil
}

// RenewClaims implements Claimer.
func (m *MemoryStore) RenewClaims(_ context.Context, owner string, until time.Time) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var held []string
	for id, c := range m.claims {
		if c.owner == owner {
			m.claims[id] = memClaim{owner, until}
			held = append(held, id)
		}
	}
	slices.Sort(held)
	return held, nil
}

// ReleaseClaim implements Claimer.
func (m *MemoryStore) ReleaseClaim(_ context.Context, id, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.claims[id].owner == owner {
		delete(m.claims, id)
	}
	return nil
}

// CreateBatch implements Store.
func (m *MemoryStore) CreateBatch(_ context.Context, b Batch, tasks []Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.batches[b.ID]; ok {
		return ErrExists
	}
	if _, ok := m.keys[b.IdempotencyKey]; ok && b.IdempotencyKey != "" {
		return ErrExists
	}
	for _, t := range tasks {
		if _, ok := m.tasks[t.ID]; ok {
			return ErrExists
		}
	}
	mb := &memBatch{b: b, tasks: make([]*Task, len(tasks))}
	for i, t := range tasks {
		t := t.clone()
		mb.tasks[i] = &t
		m.tasks[t.ID] = &t
	}
	slices.SortFunc(mb.tasks, func(x, y *Task) int { return cmp.Compare(x.Index, y.Index) })
	m.batches[b.ID] = mb
	m.order = append(m.order, mb)
	if b.IdempotencyKey != "" {
		m.keys[b.IdempotencyKey] = b.ID
	}
	return nil
}

// GetBatch implements Store.
func (m *MemoryStore) GetBatch(_ context.Context, id string) (Batch, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.batches[id]
	if !ok {
		return Batch{}, ErrNotFound
	}
	return mb.b, nil
}

// BatchByKey implements Store.
func (m *MemoryStore) BatchByKey(_ context.Context, key string) (Batch, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.keys[key]
	if !ok || key == "" {
		return Batch{}, ErrNotFound
	}
	return m.batches[id].b, nil
}

// UpdateBatch implements Store.
func (m *MemoryStore) UpdateBatch(_ context.Context, b Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.batches[b.ID]
	if !ok {
		return ErrNotFound
	}
	mb.b = b
	return nil
}

// ListBatches implements Store.
func (m *MemoryStore) ListBatches(_ context.Context, f BatchFilter) ([]Batch, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Batch{}
	total := 0
	for i := len(m.order) - 1; i >= 0; i-- {
		b := m.order[i].b
		if f.Status != "" && b.Status != f.Status || f.Kind != "" && b.Kind != f.Kind {
			continue
		}
		if total >= f.Offset && (f.Limit == 0 || len(out) < f.Limit) {
			out = append(out, b)
		}
		total++
	}
	return out, total, nil
}

// GetTask implements Store.
func (m *MemoryStore) GetTask(_ context.Context, id string) (Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tasks[id]
	if !ok {
		return Task{}, ErrNotFound
	}
	return t.clone(), nil
}

// UpdateTask implements Store.
func (m *MemoryStore) UpdateTask(_ context.Context, t Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.tasks[t.ID]
	if !ok {
		return ErrNotFound
	}
	*p = t.clone()
	return nil
}

// Tasks implements Store.
func (m *MemoryStore) Tasks(_ context.Context, batchID string) ([]Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.batches[batchID]
	if !ok {
		return nil, ErrNotFound
	}
	out := make([]Task, len(mb.tasks))
	for i, t := range mb.tasks {
		out[i] = t.clone()
	}
	return out, nil
}

// ListTasks implements Store.
func (m *MemoryStore) ListTasks(_ context.Context, f TaskFilter) ([]Task, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Task{}
	total := 0
	visit := func(mb *memBatch) {
		for _, t := range mb.tasks {
			if f.Status != "" && t.Status != f.Status {
				continue
			}
			if total >= f.Offset && (f.Limit == 0 || len(out) < f.Limit) {
				out = append(out, t.clone())
			}
			total++
		}
	}
	if f.BatchID != "" {
		if mb, ok := m.batches[f.BatchID]; ok {
			visit(mb)
		}
		return out, total, nil
	}
	for i := len(m.order) - 1; i >= 0; i-- {
		visit(m.order[i])
	}
	return out, total, nil
}

// AppendSnapshot implements Store.
func (m *MemoryStore) AppendSnapshot(_ context.Context, batchID string, s Snapshot, keep int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.batches[batchID]
	if !ok {
		return ErrNotFound
	}
	if keep > 0 && len(mb.snapshots) >= keep {
		drop := len(mb.snapshots) - keep + 1
		mb.snapshots = append(mb.snapshots[:0], mb.snapshots[drop:]...)
	}
	mb.snapshots = append(mb.snapshots, s)
	return nil
}

// Snapshots implements Store.
func (m *MemoryStore) Snapshots(_ context.Context, batchID string) ([]Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.batches[batchID]
	if !ok {
		return nil, ErrNotFound
	}
	return slices.Clone(mb.snapshots), nil
}

// CreateCheckpoint implements Store.
func (m *MemoryStore) CreateCheckpoint(_ context.Context, c Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.checkpoints[c.ID]; ok {
		return ErrExists
	}
	c.Completed = slices.Clone(c.Completed)
	m.checkpoints[c.ID] = c
	m.cpOrder = append(m.cpOrder, c.ID)
	return nil
}

// GetCheckpoint implements Store.
func (m *MemoryStore) GetCheckpoint(_ context.Context, id string) (Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.checkpoints[id]
	if !ok {
		return Checkpoint{}, ErrNotFound
	}
	c.Completed = slices.Clone(c.Completed)
	return c, nil
}

// ListCheckpoints implements Store.
func (m *MemoryStore) ListCheckpoints(_ context.Context, batchID string) ([]Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Checkpoint{}
	for _, id := range m.cpOrder {
		if c := m.checkpoints[id]; batchID == "" || c.BatchID == batchID {
			c.Completed = slices.Clone(c.Completed)
			out = append(out, c)
		}
	}
	return out, nil
}

// PutRollback implements Store.
func (m *MemoryStore) PutRollback(_ context.Context, r Rollback) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rollbacks[r.ID]; !ok {
		m.rbOrder = append(m.rbOrder, r.ID)
	}
	r.Steps = slices.Clone(r.Steps)
	m.rollbacks[r.ID] = r
	return nil
}

// GetRollback implements Store.
func (m *MemoryStore) GetRollback(_ context.Context, id string) (Rollback, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rollbacks[id]
	if !ok {
		return Rollback{}, ErrNotFound
	}
	r.Steps = slices.Clone(r.Steps)
	return r, nil
}

// ListRollbacks implements Store.
func (m *MemoryStore) ListRollbacks(context.Context) ([]Rollback, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Rollback, 0, len(m.rbOrder))
	for _, id := range m.rbOrder {
		r := m.rollbacks[id]
		r.Steps = slices.Clone(r.Steps)
		out = append(out, r)
	}
	return out, nil
}

// AppendEvent implements Store.
func (m *MemoryStore) AppendEvent(_ context.Context, e Event) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastSeq++
	e.Seq = m.lastSeq
	e.Data = cloneRaw(e.Data)
	keep := m.EventRetention
	if keep <= 0 {
		keep = DefaultEventRetention
	}
	if len(m.events) < keep {
		m.events = append(m.events, e)
		return e.Seq, nil
	}
	m.events[m.eventStart] = e
	m.eventStart = (m.eventStart + 1) % len(m.events)
	return e.Seq, nil
}

// Events implements Store.
func (m *MemoryStore) Events(_ context.Context, after uint64, limit int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.events)
	at := func(i int) Event { return m.events[(m.eventStart+i)%n] }
	// The ring is in Seq order from eventStart: find the first Seq > after.
	lo, hi := 0, n
	for lo < hi {
		mid := (lo + hi) / 2
		if at(mid).Seq <= after {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	out := []Event{}
	for i := lo; i < n && (limit <= 0 || len(out) < limit); i++ {
		e := at(i)
		e.Data = cloneRaw(e.Data)
		out = append(out, e)
	}
	return out, nil
}

// LastEventSeq implements Store.
func (m *MemoryStore) LastEventSeq(context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastSeq, nil
}

// CreateWebhook implements Store.
func (m *MemoryStore) CreateWebhook(_ context.Context, w Webhook) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.webhooks {
		if x.ID == w.ID {
			return ErrExists
		}
	}
	w.Events = slices.Clone(w.Events)
	m.webhooks = append(m.webhooks, w)
	return nil
}

// DeleteWebhook implements Store.
func (m *MemoryStore) DeleteWebhook(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, x := range m.webhooks {
		if x.ID == id {
			m.webhooks = slices.Delete(m.webhooks, i, i+1)
			return nil
		}
	}
	return ErrNotFound
}

// ListWebhooks implements Store.
func (m *MemoryStore) ListWebhooks(context.Context) ([]Webhook, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Webhook, len(m.webhooks))
	for i, w := range m.webhooks {
		w.Events = slices.Clone(w.Events)
		out[i] = w
	}
	return out, nil
}
