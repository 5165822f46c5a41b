// Package orchestratortest holds the conformance suite every
// orchestrator.Store passes.
//
// A host with its own store runs it from a test:
//
//	func TestMyStore(t *testing.T) {
//		orchestratortest.RunStore(t, func(t *testing.T) orchestrator.Store { return newMyStore(t) })
//	}
package orchestratortest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/orchestrator"
)

// RunStore runs the conformance suite. newStore must return an empty
// store each time it is called.
func RunStore(t *testing.T, newStore func(t *testing.T) orchestrator.Store) {
	t.Run("Batches", func(t *testing.T) { testBatches(t, newStore(t)) })
	t.Run("IdempotencyKeyIsUnique", func(t *testing.T) { testKeyRace(t, newStore(t)) })
	t.Run("Tasks", func(t *testing.T) { testTasks(t, newStore(t)) })
	t.Run("Snapshots", func(t *testing.T) { testSnapshots(t, newStore(t)) })
	t.Run("CheckpointsAndRollbacks", func(t *testing.T) { testCheckpoints(t, newStore(t)) })
	t.Run("Events", func(t *testing.T) { testEvents(t, newStore(t)) })
	t.Run("Webhooks", func(t *testing.T) { testWebhooks(t, newStore(t)) })
	t.Run("Claims", func(t *testing.T) {
		c, ok := newStore(t).(orchestrator.Claimer)
		if !ok {
			t.Skip("the store is not a Claimer: engines cannot share it")
		}
		testClaims(t, c)
	})
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func batch(id string, created time.Time) orchestrator.Batch {
	return orchestrator.Batch{
		ID: id, Kind: orchestrator.KindWorkflow, Name: "deploy " + id, Status: orchestrator.StatusPending,
		ParallelLimit: 4, RollbackEnabled: true, Fingerprint: "fp-" + id, Total: 2,
		Submitter: "alice", CreatedAt: created,
	}
}

func tasks(batchID string) []orchestrator.Task {
	out := make([]orchestrator.Task, 2)
	for i := range out {
		out[i] = orchestrator.Task{
			ID: fmt.Sprintf("%s.%d", batchID, i), BatchID: batchID, Operation: fmt.Sprint("op", i), Index: i,
			Type: "echo", Args: json.RawMessage(`{"message":"hi"}`), Dependencies: []string{},
			Status: orchestrator.StatusPending, MaxAttempts: 3, Timeout: 90 * time.Second, CreatedAt: base,
		}
	}
	out[1].Dependencies = []string{"op0"}
	return out
}

func ctx() context.Context { return context.Background() }

func testBatches(t *testing.T, s orchestrator.Store) {
	_, err := s.GetBatch(ctx(), "b1")
	require.ErrorIs(t, err, orchestrator.ErrNotFound)
	_, err = s.BatchByKey(ctx(), "k")
	require.ErrorIs(t, err, orchestrator.ErrNotFound)
	require.ErrorIs(t, s.UpdateBatch(ctx(), batch("b1", base)), orchestrator.ErrNotFound)

	b1 := batch("b1", base)
	b1.IdempotencyKey = "k"
	require.NoError(t, s.CreateBatch(ctx(), b1, tasks("b1")))
	require.ErrorIs(t, s.CreateBatch(ctx(), batch("b1", base), tasks("other")), orchestrator.ErrExists, "same id")
	dupKey := batch("b9", base)
	dupKey.IdempotencyKey = "k"
	require.ErrorIs(t, s.CreateBatch(ctx(), dupKey, tasks("b9")), orchestrator.ErrExists, "same idempotency key")
	_, err = s.GetBatch(ctx(), "b9")
	require.ErrorIs(t, err, orchestrator.ErrNotFound, "a refused batch stores nothing")
	_, err = s.GetTask(ctx(), "b9.0")
	require.ErrorIs(t, err, orchestrator.ErrNotFound, "nor its tasks")

	got, err := s.GetBatch(ctx(), "b1")
	require.NoError(t, err)
	assertBatch(t, b1, got)
	got, err = s.BatchByKey(ctx(), "k")
	require.NoError(t, err)
	assert.Equal(t, "b1", got.ID)

	b1.Status, b1.StartedAt, b1.FinishedAt = orchestrator.StatusFailed, base.Add(time.Second), base.Add(time.Minute)
	b1.Error, b1.RollbackID, b1.CancelRequested = "operation op1 failed", "rb1", true
	require.NoError(t, s.UpdateBatch(ctx(), b1))
	got, err = s.GetBatch(ctx(), "b1")
	require.NoError(t, err)
	assertBatch(t, b1, got)

	for i := 2; i <= 5; i++ {
		b := batch(fmt.Sprint("b", i), base.Add(time.Duration(i)*time.Second))
		if i%2 == 0 {
			b.Kind = orchestrator.KindBatch
		}
		require.NoError(t, s.CreateBatch(ctx(), b, tasks(b.ID)))
	}
	all, total, err := s.ListBatches(ctx(), orchestrator.BatchFilter{})
	require.NoError(t, err)
	assert.Equal(t, 5, total)
	assert.Equal(t, []string{"b5", "b4", "b3", "b2", "b1"}, ids(all), "newest first")
	page, total, err := s.ListBatches(ctx(), orchestrator.BatchFilter{Limit: 2, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, 5, total)
	assert.Equal(t, []string{"b4", "b3"}, ids(page))
	pending, total, err := s.ListBatches(ctx(), orchestrator.BatchFilter{Status: orchestrator.StatusPending, Kind: orchestrator.KindBatch})
	require.NoError(t, err)
	assert.Equal(t, 2, total)
	assert.Equal(t, []string{"b4", "b2"}, ids(pending))
	none, total, err := s.ListBatches(ctx(), orchestrator.BatchFilter{Status: orchestrator.StatusCompleted})
	require.NoError(t, err)
	assert.Zero(t, total)
	assert.NotNil(t, none)
	assert.Empty(t, none)
}

func ids(bs []orchestrator.Batch) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return out
}

func assertBatch(t *testing.T, want, got orchestrator.Batch) {
	t.Helper()
	for _, tt := range []struct {
		name      string
		want, got time.Time
	}{{"created_at", want.CreatedAt, got.CreatedAt}, {"started_at", want.StartedAt, got.StartedAt}, {"finished_at", want.FinishedAt, got.FinishedAt}} {
		assert.True(t, tt.want.Equal(tt.got), "%s: want %v, got %v", tt.name, tt.want, tt.got)
	}
	want.CreatedAt, want.StartedAt, want.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	got.CreatedAt, got.StartedAt, got.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func testKeyRace(t *testing.T, s orchestrator.Store) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := range 8 {
		wg.Go(func() {
			b := batch(fmt.Sprint("race", i), base)
			b.IdempotencyKey = "same"
			err := s.CreateBatch(ctx(), b, tasks(b.ID))
			if err == nil {
				mu.Lock()
				created++
				mu.Unlock()
				return
			}
			assert.ErrorIs(t, err, orchestrator.ErrExists)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, created, "exactly one batch holds the key")
}

func testTasks(t *testing.T, s orchestrator.Store) {
	_, err := s.Tasks(ctx(), "b1")
	require.ErrorIs(t, err, orchestrator.ErrNotFound)
	ts := tasks("b1")
	// Stored out of order, returned in specification order.
	require.NoError(t, s.CreateBatch(ctx(), batch("b1", base), []orchestrator.Task{ts[1], ts[0]}))
	require.NoError(t, s.CreateBatch(ctx(), batch("b2", base.Add(time.Second)), tasks("b2")))
	got, err := s.Tasks(ctx(), "b1")
	require.NoError(t, err)
	require.Len(t, got, 2)
	assertTask(t, ts[0], got[0])
	assertTask(t, ts[1], got[1])

	// Copies out: changing what came back changes nothing stored.
	got[0].Args[2] = 'X'
	got[1].Dependencies[0] = "changed"
	again, err := s.GetTask(ctx(), "b1.0")
	require.NoError(t, err)
	assertTask(t, ts[0], again)
	again, err = s.GetTask(ctx(), "b1.1")
	require.NoError(t, err)
	assert.Equal(t, []string{"op0"}, again.Dependencies)

	done := ts[0]
	done.Status, done.Progress, done.Attempts, done.CompletedSeq = orchestrator.StatusCompleted, 100, 2, 1
	done.Output, done.Error, done.Compensation = json.RawMessage(`{"ok":true}`), "", orchestrator.CompensationDone
	done.StartedAt, done.FinishedAt = base.Add(time.Second), base.Add(2*time.Second)
	require.NoError(t, s.UpdateTask(ctx(), done))
	got1, err := s.GetTask(ctx(), "b1.0")
	require.NoError(t, err)
	assertTask(t, done, got1)
	missing := done
	missing.ID = "nope"
	require.ErrorIs(t, s.UpdateTask(ctx(), missing), orchestrator.ErrNotFound)
	_, err = s.GetTask(ctx(), "nope")
	require.ErrorIs(t, err, orchestrator.ErrNotFound)

	list, total, err := s.ListTasks(ctx(), orchestrator.TaskFilter{})
	require.NoError(t, err)
	assert.Equal(t, 4, total)
	var order []string
	for _, x := range list {
		order = append(order, x.ID)
	}
	assert.Equal(t, []string{"b2.0", "b2.1", "b1.0", "b1.1"}, order, "newest batch first, specification order within")
	list, total, err = s.ListTasks(ctx(), orchestrator.TaskFilter{Status: orchestrator.StatusCompleted})
	require.NoError(t, err)
	assert.Equal(t, 1, total)
	assert.Equal(t, "b1.0", list[0].ID)
	list, total, err = s.ListTasks(ctx(), orchestrator.TaskFilter{BatchID: "b1", Limit: 1, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, 2, total)
	require.Len(t, list, 1)
	assert.Equal(t, "b1.1", list[0].ID)
	list, total, err = s.ListTasks(ctx(), orchestrator.TaskFilter{BatchID: "none"})
	require.NoError(t, err)
	assert.Zero(t, total)
	assert.NotNil(t, list)
}

func assertTask(t *testing.T, want, got orchestrator.Task) {
	t.Helper()
	assertJSON(t, want.Args, got.Args, "args")
	assertJSON(t, want.Output, got.Output, "output")
	for _, tt := range []struct {
		name      string
		want, got time.Time
	}{{"created_at", want.CreatedAt, got.CreatedAt}, {"started_at", want.StartedAt, got.StartedAt}, {"finished_at", want.FinishedAt, got.FinishedAt}} {
		assert.True(t, tt.want.Equal(tt.got), "%s: want %v, got %v", tt.name, tt.want, tt.got)
	}
	want.Args, want.Output, got.Args, got.Output = nil, nil, nil, nil
	// No dependencies may come back as nil or empty.
	if len(want.Dependencies) == 0 && len(got.Dependencies) == 0 {
		want.Dependencies, got.Dependencies = nil, nil
	}
	want.CreatedAt, want.StartedAt, want.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	got.CreatedAt, got.StartedAt, got.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func assertJSON(t *testing.T, want, got json.RawMessage, field string) {
	t.Helper()
	if len(want) == 0 {
		assert.Empty(t, got, field)
		return
	}
	assert.JSONEq(t, string(want), string(got), field)
}

func testSnapshots(t *testing.T, s orchestrator.Store) {
	require.ErrorIs(t, s.AppendSnapshot(ctx(), "b1", orchestrator.Snapshot{Seq: 1}, 3), orchestrator.ErrNotFound)
	_, err := s.Snapshots(ctx(), "b1")
	require.ErrorIs(t, err, orchestrator.ErrNotFound)
	require.NoError(t, s.CreateBatch(ctx(), batch("b1", base), tasks("b1")))
	snaps, err := s.Snapshots(ctx(), "b1")
	require.NoError(t, err)
	assert.Empty(t, snaps)
	for i := 1; i <= 5; i++ {
		require.NoError(t, s.AppendSnapshot(ctx(), "b1", orchestrator.Snapshot{
			Seq: i, At: base.Add(time.Duration(i) * time.Second), Status: orchestrator.StatusRunning,
			Counts: orchestrator.Counts{Running: 1, Completed: i}, Percent: 10 * i, Transition: fmt.Sprint("step ", i),
		}, 3))
	}
	snaps, err = s.Snapshots(ctx(), "b1")
	require.NoError(t, err)
	require.Len(t, snaps, 3, "the oldest beyond keep are dropped")
	for k, sn := range snaps {
		i := k + 3
		assert.Equal(t, i, sn.Seq)
		assert.True(t, base.Add(time.Duration(i)*time.Second).Equal(sn.At))
		assert.Equal(t, orchestrator.Counts{Running: 1, Completed: i}, sn.Counts)
		assert.Equal(t, 10*i, sn.Percent)
		assert.Equal(t, fmt.Sprint("step ", i), sn.Transition)
	}
}

func testCheckpoints(t *testing.T, s orchestrator.Store) {
	_, err := s.GetCheckpoint(ctx(), "cp1")
	require.ErrorIs(t, err, orchestrator.ErrNotFound)
	cp := orchestrator.Checkpoint{ID: "cp1", BatchID: "b1", Name: "before", Completed: []string{"a", "b"}, CreatedAt: base}
	require.NoError(t, s.CreateCheckpoint(ctx(), cp))
	require.ErrorIs(t, s.CreateCheckpoint(ctx(), cp), orchestrator.ErrExists)
	require.NoError(t, s.CreateCheckpoint(ctx(), orchestrator.Checkpoint{ID: "cp2", BatchID: "b2", Name: "x", Completed: []string{}, CreatedAt: base}))
	got, err := s.GetCheckpoint(ctx(), "cp1")
	require.NoError(t, err)
	assert.Equal(t, cp.Completed, got.Completed)
	assert.Equal(t, cp.Name, got.Name)
	assert.True(t, base.Equal(got.CreatedAt))
	got.Completed[0] = "changed"
	list, err := s.ListCheckpoints(ctx(), "b1")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, []string{"a", "b"}, list[0].Completed, "copies out")
	list, err = s.ListCheckpoints(ctx(), "")
	require.NoError(t, err)
	assert.Len(t, list, 2)
	list, err = s.ListCheckpoints(ctx(), "none")
	require.NoError(t, err)
	assert.Empty(t, list)

	_, err = s.GetRollback(ctx(), "rb1")
	require.ErrorIs(t, err, orchestrator.ErrNotFound)
	rb := orchestrator.Rollback{ID: "rb1", BatchID: "b1", Reason: "execute", CheckpointID: "cp1", Status: orchestrator.StatusRunning, Steps: []orchestrator.RollbackStep{}, StartedAt: base}
	require.NoError(t, s.PutRollback(ctx(), rb))
	rb.Status, rb.FinishedAt = orchestrator.StatusFailed, base.Add(time.Second)
	rb.Steps = []orchestrator.RollbackStep{{Operation: "b", Result: orchestrator.CompensationDone}, {Operation: "a", Result: orchestrator.CompensationFailed, Error: "locked"}}
	require.NoError(t, s.PutRollback(ctx(), rb))
	require.NoError(t, s.PutRollback(ctx(), orchestrator.Rollback{ID: "rb2", BatchID: "b1", Reason: "failure", Status: orchestrator.StatusCompleted, Steps: []orchestrator.RollbackStep{}, StartedAt: base, FinishedAt: base}))
	got2, err := s.GetRollback(ctx(), "rb1")
	require.NoError(t, err)
	assert.Equal(t, rb.Steps, got2.Steps)
	assert.Equal(t, orchestrator.StatusFailed, got2.Status)
	assert.True(t, rb.FinishedAt.Equal(got2.FinishedAt))
	all, err := s.ListRollbacks(ctx())
	require.NoError(t, err)
	require.Len(t, all, 2, "a replaced rollback is listed once")
	assert.Equal(t, "rb1", all[0].ID)
	assert.Equal(t, "rb2", all[1].ID)
}

func testEvents(t *testing.T, s orchestrator.Store) {
	last, err := s.LastEventSeq(ctx())
	require.NoError(t, err)
	assert.Zero(t, last)
	evs, err := s.Events(ctx(), 0, 10)
	require.NoError(t, err)
	assert.Empty(t, evs)
	for i := uint64(1); i <= 5; i++ {
		seq, err := s.AppendEvent(ctx(), orchestrator.Event{
			Seq: 99, Type: "task.started", Timestamp: base.Add(time.Duration(i) * time.Second), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
		})
		require.NoError(t, err)
		require.Equal(t, i, seq, "the store numbers events, ignoring the Seq given")
	}
	last, err = s.LastEventSeq(ctx())
	require.NoError(t, err)
	assert.Equal(t, uint64(5), last)
	evs, err = s.Events(ctx(), 2, 2)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, uint64(3), evs[0].Seq)
	assert.Equal(t, uint64(4), evs[1].Seq)
	assert.Equal(t, "task.started", evs[0].Type)
	assert.True(t, base.Add(3*time.Second).Equal(evs[0].Timestamp))
	assert.JSONEq(t, `{"n":3}`, string(evs[0].Data))
	evs, err = s.Events(ctx(), 0, 0)
	require.NoError(t, err)
	assert.Len(t, evs, 5, "limit 0 is no limit")
	evs, err = s.Events(ctx(), 5, 10)
	require.NoError(t, err)
	assert.Empty(t, evs)

	// Concurrent appends (as from engines sharing the store) are numbered
	// without a gap or a repeat.
	var wg sync.WaitGroup
	seqs := make([]uint64, 40)
	for i := range seqs {
		wg.Go(func() {
			var err error
			seqs[i], err = s.AppendEvent(ctx(), orchestrator.Event{Type: "task.started", Timestamp: base, Data: json.RawMessage(`{}`)})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	slices.Sort(seqs)
	for i, seq := range seqs {
		require.Equal(t, uint64(6+i), seq, "concurrent appends number 6..45 once each")
	}
	evs, err = s.Events(ctx(), 5, 0)
	require.NoError(t, err)
	assert.Len(t, evs, len(seqs))
}

func testWebhooks(t *testing.T, s orchestrator.Store) {
	require.ErrorIs(t, s.DeleteWebhook(ctx(), "wh1"), orchestrator.ErrNotFound)
	w1 := orchestrator.Webhook{ID: "wh1", URL: "https://example.com/a", Events: []string{"task.*"}, Secret: "whsec_abc", CreatedAt: base}
	require.NoError(t, s.CreateWebhook(ctx(), w1))
	require.ErrorIs(t, s.CreateWebhook(ctx(), w1), orchestrator.ErrExists)
	require.NoError(t, s.CreateWebhook(ctx(), orchestrator.Webhook{ID: "wh2", URL: "https://example.com/b", Events: []string{}, Secret: "whsec_def", CreatedAt: base.Add(time.Second)}))
	list, err := s.ListWebhooks(ctx())
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "wh1", list[0].ID)
	assert.Equal(t, w1.Secret, list[0].Secret, "the store keeps the secret: deliveries sign with it")
	assert.Equal(t, w1.Events, list[0].Events)
	assert.True(t, base.Equal(list[0].CreatedAt))
	list[0].Events[0] = "changed"
	require.NoError(t, s.DeleteWebhook(ctx(), "wh1"))
	list, err = s.ListWebhooks(ctx())
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "wh2", list[0].ID)
}

func testClaims(t *testing.T, c orchestrator.Claimer) {
	lease := 30 * time.Second
	ok, err := c.Claim(ctx(), "b1", "a", base, base.Add(lease))
	require.NoError(t, err)
	require.True(t, ok, "an unclaimed batch is claimed")
	ok, err = c.Claim(ctx(), "b1", "b", base.Add(lease-time.Second), base.Add(2*lease))
	require.NoError(t, err)
	require.False(t, ok, "a live claim is not taken")
	ok, err = c.Claim(ctx(), "b1", "a", base.Add(time.Second), base.Add(lease+time.Second))
	require.NoError(t, err)
	require.True(t, ok, "the holder claims again")
	_, err = c.Claim(ctx(), "b2", "a", base, base.Add(lease))
	require.NoError(t, err)
	held, err := c.RenewClaims(ctx(), "a", base.Add(2*lease))
	require.NoError(t, err)
	assert.Equal(t, []string{"b1", "b2"}, held)
	ok, err = c.Claim(ctx(), "b1", "b", base.Add(2*lease-time.Second), base.Add(3*lease))
	require.NoError(t, err)
	require.False(t, ok, "a renewed claim holds until its new end")
	ok, err = c.Claim(ctx(), "b1", "b", base.Add(2*lease+time.Second), base.Add(3*lease))
	require.NoError(t, err)
	require.True(t, ok, "an expired claim is taken over")
	held, err = c.RenewClaims(ctx(), "a", base.Add(3*lease))
	require.NoError(t, err)
	assert.Equal(t, []string{"b2"}, held, "a claim taken over is no longer renewed by its old holder")
	require.NoError(t, c.ReleaseClaim(ctx(), "b1", "a"), "releasing another's claim")
	ok, err = c.Claim(ctx(), "b1", "a", base.Add(2*lease+2*time.Second), base.Add(3*lease))
	require.NoError(t, err)
	require.False(t, ok, "releasing another's claim leaves it")
	require.NoError(t, c.ReleaseClaim(ctx(), "b1", "b"))
	ok, err = c.Claim(ctx(), "b1", "a", base.Add(2*lease+2*time.Second), base.Add(3*lease))
	require.NoError(t, err)
	require.True(t, ok, "a released claim is free")

	// Racing claims of one free batch: exactly one wins.
	var wg sync.WaitGroup
	var won atomic.Int32
	for i := range 12 {
		wg.Go(func() {
			ok, err := c.Claim(ctx(), "race", fmt.Sprint("owner", i), base, base.Add(lease))
			assert.NoError(t, err)
			if ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), won.Load(), "one of 12 concurrent claims wins")
}
