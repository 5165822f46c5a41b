package orchestrator_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/orchestrator"
)

func TestDependencyOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		e := startEngine(t, orchestrator.Config{Types: types(rec)})
		// A diamond behind a chain, with uneven sleeps so that the
		// completion order differs from the specification order.
		spec := orchestrator.Spec{Name: "diamond", ParallelLimit: 4, Operations: []orchestrator.Operation{
			opArgs("d", "sleep", `{"ms":5}`, "b", "c"),
			opArgs("b", "sleep", `{"ms":30}`, "a"),
			opArgs("c", "sleep", `{"ms":10}`, "a"),
			opArgs("a", "sleep", `{"ms":20}`),
			opArgs("e", "sleep", `{"ms":1}`, "d"),
		}}
		b, tasks := e.submitWait(t, spec)
		assert.Equal(t, orchestrator.StatusCompleted, b.Status)
		for _, o := range spec.Operations {
			task := tasks[o.ID]
			assert.Equal(t, orchestrator.StatusCompleted, task.Status, o.ID)
			assert.Equal(t, 100, task.Progress, o.ID)
			for _, d := range o.Dependencies {
				assert.False(t, task.StartedAt.Before(tasks[d].FinishedAt), "%s started before its dependency %s finished", o.ID, d)
				assert.Greater(t, task.CompletedSeq, tasks[d].CompletedSeq, "%s completed before %s", o.ID, d)
			}
		}
		_, completed, _ := rec.snapshot()
		assert.Equal(t, []string{"a", "c", "b", "d", "e"}, completed)
	})
}

func TestParallelLimitIsNeverExceeded(t *testing.T) {
	for _, limit := range []int{1, 3, 8} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var now, peak atomic.Int32
				measure := func(ctx context.Context, _ orchestrator.Task) (any, error) {
					n := now.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					time.Sleep(time.Millisecond)
					now.Add(-1)
					return nil, nil
				}
				// A second batch runs beside it on the same pool, so the
				// limit is per batch, not the pool's size.
				e := startEngine(t, orchestrator.Config{Workers: 16, Types: map[string]orchestrator.TaskType{
					"measure": {Run: measure},
					"other":   {Run: func(context.Context, orchestrator.Task) (any, error) { time.Sleep(time.Millisecond); return nil, nil }},
				}})
				var ops, others []orchestrator.Operation
				for i := range 40 {
					ops = append(ops, op(fmt.Sprint("m", i), "measure"))
					others = append(others, op(fmt.Sprint("o", i), "other"))
				}
				other, _, err := e.Submit(context.Background(), orchestrator.KindBatch, orchestrator.Spec{ParallelLimit: 8, Operations: others}, "")
				require.NoError(t, err)
				b, _ := e.submitWait(t, orchestrator.Spec{ParallelLimit: limit, Operations: ops})
				e.wait(t, other.ID)
				assert.Equal(t, orchestrator.StatusCompleted, b.Status)
				assert.Equal(t, int32(limit), peak.Load(), "the most tasks running at once")
			})
		})
	}
}

func TestRetriesBackOffExponentially(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu       sync.Mutex
			attempts []time.Time
		)
		flaky := func(context.Context, orchestrator.Task) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, time.Now())
			if len(attempts) < 4 {
				return nil, errors.New("not yet")
			}
			return "done", nil
		}
		var jittered []time.Duration
		e := startEngine(t, orchestrator.Config{
			Types: map[string]orchestrator.TaskType{"flaky": {Run: flaky, MaxAttempts: 5}},
			Retry: orchestrator.RetryPolicy{Base: time.Second, Max: 3 * time.Second, Jitter: func(d time.Duration) time.Duration {
				jittered = append(jittered, d)
				return d + 100*time.Millisecond
			}},
		})
		var events []orchestrator.Event
		evCtx, stopEvents := context.WithCancel(context.Background())
		subscribed := make(chan error, 1)
		go func() {
			subscribed <- e.Subscribe(evCtx, 0, func(ev orchestrator.Event) error {
				events = append(events, ev)
				return nil
			})
		}()
		b, tasks := e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{op("x", "flaky")}})
		synctest.Wait()
		stopEvents()
		require.NoError(t, <-subscribed)

		assert.Equal(t, orchestrator.StatusCompleted, b.Status)
		assert.Equal(t, 4, tasks["x"].Attempts)
		assert.JSONEq(t, `"done"`, string(tasks["x"].Output))
		require.Len(t, attempts, 4)
		var gaps []time.Duration
		for i := 1; i < len(attempts); i++ {
			gaps = append(gaps, attempts[i].Sub(attempts[i-1]))
		}
		// 1s, 2s, then capped at 3s; each plus the jitter's 100ms.
		assert.Equal(t, []time.Duration{1100 * time.Millisecond, 2100 * time.Millisecond, 3100 * time.Millisecond}, gaps)
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, jittered)
		var retrying int
		for _, ev := range events {
			if ev.Type == orchestrator.EventTaskRetrying {
				retrying++
			}
		}
		assert.Equal(t, 3, retrying, "task.retrying events")
	})
}

func TestPermanentErrorsAndTimeoutsFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		e := startEngine(t, orchestrator.Config{
			Retry: orchestrator.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond},
			Types: map[string]orchestrator.TaskType{
				"permanent": {Run: func(context.Context, orchestrator.Task) (any, error) {
					calls.Add(1)
					return nil, orchestrator.Permanent(errors.New("bad input"))
				}},
				"slow": {Timeout: time.Second, Run: func(ctx context.Context, _ orchestrator.Task) (any, error) {
					<-ctx.Done()
					return nil, ctx.Err()
				}},
				"panics": {Run: func(context.Context, orchestrator.Task) (any, error) { panic("boom") }},
			},
		})
		b, tasks := e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{
			op("p", "permanent"), op("s", "slow"), op("x", "panics"),
		}})
		assert.Equal(t, orchestrator.StatusFailed, b.Status)
		assert.Equal(t, int32(1), calls.Load(), "a permanent error is not retried")
		assert.Equal(t, "bad input", tasks["p"].Error)
		assert.Equal(t, 3, tasks["s"].Attempts, "a timeout is retried")
		assert.Equal(t, "attempt 3 timed out after 1s", tasks["s"].Error)
		assert.Equal(t, 1, tasks["x"].Attempts)
		assert.Equal(t, "task panicked: boom", tasks["x"].Error)
	})
}

func TestFailedDependencySkipsDependents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		e := startEngine(t, orchestrator.Config{Types: types(rec)})
		b, tasks := e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{
			opArgs("a", "fail", `{"message":"disk full"}`),
			op("b", "ok", "a"),
			op("c", "ok", "b"),
			op("free", "ok"),
		}})
		assert.Equal(t, orchestrator.StatusFailed, b.Status)
		assert.Equal(t, "operation a failed: disk full", b.Error)
		assert.Equal(t, orchestrator.StatusFailed, tasks["a"].Status)
		assert.Equal(t, orchestrator.StatusCancelled, tasks["b"].Status)
		assert.Equal(t, "not run: dependency a did not complete", tasks["b"].Error)
		assert.Equal(t, orchestrator.StatusCancelled, tasks["c"].Status)
		assert.Equal(t, "not run: dependency b did not complete", tasks["c"].Error)
		assert.Equal(t, orchestrator.StatusCompleted, tasks["free"].Status, "an independent branch still runs")
		started, _, compensated := rec.snapshot()
		assert.ElementsMatch(t, []string{"a", "free"}, started)
		assert.Empty(t, compensated, "no rollback unless enabled")
	})
}

func TestCancelMidFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		e := startEngine(t, orchestrator.Config{Types: types(rec)})
		b, _, err := e.Submit(context.Background(), orchestrator.KindWorkflow, orchestrator.Spec{ParallelLimit: 2, Operations: []orchestrator.Operation{
			op("done", "ok"),
			op("blocked1", "block", "done"),
			op("blocked2", "block", "done"),
			op("never", "ok", "blocked1"),
			op("queued", "ok", "done"),
		}}, "")
		require.NoError(t, err)
		synctest.Wait() // both blocked tasks are running, "queued" waits for a slot
		started, _, _ := rec.snapshot()
		require.ElementsMatch(t, []string{"done", "blocked1", "blocked2"}, started)

		got, err := e.Cancel(context.Background(), b.ID)
		require.NoError(t, err)
		assert.True(t, got.CancelRequested)
		b, tasks := e.wait(t, b.ID)
		assert.Equal(t, orchestrator.StatusCancelled, b.Status)
		assert.Equal(t, orchestrator.StatusCompleted, tasks["done"].Status)
		assert.Equal(t, orchestrator.StatusCancelled, tasks["blocked1"].Status, "running tasks see their context cancelled")
		assert.Equal(t, orchestrator.StatusCancelled, tasks["blocked2"].Status)
		assert.Equal(t, orchestrator.StatusCancelled, tasks["never"].Status)
		assert.Equal(t, orchestrator.StatusCancelled, tasks["queued"].Status)
		started, _, _ = rec.snapshot()
		assert.ElementsMatch(t, []string{"done", "blocked1", "blocked2"}, started, "pending tasks never start")

		_, err = e.Cancel(context.Background(), b.ID)
		assert.ErrorIs(t, err, orchestrator.ErrFinished)
		_, err = e.Cancel(context.Background(), "b_nope")
		assert.ErrorIs(t, err, orchestrator.ErrNotFound)
	})
}

func TestRollbackRunsInReverseCompletionOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		e := startEngine(t, orchestrator.Config{Types: types(rec)})
		b, tasks := e.submitWait(t, orchestrator.Spec{RollbackEnabled: true, ParallelLimit: 4, Operations: []orchestrator.Operation{
			opArgs("slow", "sleep", `{"ms":30}`),
			opArgs("fast", "sleep", `{"ms":10}`),
			op("plain", "nocomp"),
			op("after", "ok", "slow", "fast"),
			opArgs("gate", "sleep", `{"ms":5}`, "after"),
			opArgs("boom", "fail", `{"message":"no"}`, "gate"),
			op("never", "ok", "boom"),
			opArgs("sibling", "sleep", `{"ms":100}`, "after"), // running when boom fails
		}})
		assert.Equal(t, orchestrator.StatusFailed, b.Status)
		require.NotEmpty(t, b.RollbackID)
		_, completed, compensated := rec.snapshot()
		want := slices.Clone(completed)
		slices.Reverse(want)
		want = slices.DeleteFunc(want, func(s string) bool { return s == "plain" })
		assert.Equal(t, want, compensated, "compensations run in reverse completion order")
		assert.Equal(t, []string{"sibling", "gate", "after", "slow", "fast"}, compensated)
		assert.Equal(t, orchestrator.CompensationDone, tasks["slow"].Compensation)
		assert.Equal(t, orchestrator.CompensationNone, tasks["plain"].Compensation)
		assert.Equal(t, orchestrator.StatusCancelled, tasks["never"].Status)

		rb, err := e.Rollback(context.Background(), b.RollbackID)
		require.NoError(t, err)
		assert.Equal(t, "failure", rb.Reason)
		assert.Equal(t, orchestrator.StatusCompleted, rb.Status)
		var steps []string
		for _, s := range rb.Steps {
			steps = append(steps, s.Operation)
		}
		assert.Equal(t, []string{"sibling", "gate", "after", "slow", "fast", "plain"}, steps)
	})
}

func TestRollbackStopsAtAFailedCompensation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var undone []string
		failOnce := true
		e := startEngine(t, orchestrator.Config{Types: map[string]orchestrator.TaskType{
			"step": {
				Run: func(context.Context, orchestrator.Task) (any, error) { return nil, nil },
				Compensate: func(_ context.Context, t orchestrator.Task) error {
					if t.Operation == "b" && failOnce {
						failOnce = false
						return errors.New("locked")
					}
					undone = append(undone, t.Operation)
					return nil
				},
			},
		}})
		b, _ := e.submitWait(t, orchestrator.Spec{ParallelLimit: 1, Operations: []orchestrator.Operation{
			op("a", "step"), op("b", "step", "a"), op("c", "step", "b"),
		}})
		rb, err := e.ExecuteRollback(context.Background(), orchestrator.RollbackRequest{BatchID: b.ID, Operations: []string{"a", "b", "c"}})
		require.NoError(t, err)
		assert.Equal(t, orchestrator.StatusFailed, rb.Status)
		assert.Equal(t, []string{"c"}, undone, "a is not compensated before b")
		require.Len(t, rb.Steps, 2)
		assert.Equal(t, "locked", rb.Steps[1].Error)

		// Trying again picks up b, then a.
		rb, err = e.ExecuteRollback(context.Background(), orchestrator.RollbackRequest{BatchID: b.ID, Operations: []string{"a", "b"}})
		require.NoError(t, err)
		assert.Equal(t, orchestrator.StatusCompleted, rb.Status)
		assert.Equal(t, []string{"c", "b", "a"}, undone)

		stats, err := e.RollbackStats(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 2, stats.Total)
		assert.Equal(t, 1, stats.Completed)
		assert.Equal(t, 1, stats.Failed)
		assert.InDelta(t, 0.5, stats.SuccessRate, 1e-9)
	})
}

func TestCheckpointsPartialRollbackAndRestore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		e := startEngine(t, orchestrator.Config{Types: types(rec)})
		ctx := context.Background()
		b, _, err := e.Submit(ctx, orchestrator.KindWorkflow, orchestrator.Spec{ParallelLimit: 1, Operations: []orchestrator.Operation{
			opArgs("one", "sleep", `{"ms":10}`),
			opArgs("two", "sleep", `{"ms":10}`, "one"),
			opArgs("three", "sleep", `{"ms":10}`, "two"),
			opArgs("four", "sleep", `{"ms":10}`, "three"),
		}}, "")
		require.NoError(t, err)
		time.Sleep(15 * time.Millisecond) // "one" done, "two" running
		synctest.Wait()
		cp, err := e.CreateCheckpoint(ctx, b.ID, "after-one")
		require.NoError(t, err)
		assert.Equal(t, []string{"one"}, cp.Completed)

		_, err = e.ExecuteRollback(ctx, orchestrator.RollbackRequest{BatchID: b.ID, Operations: []string{"one"}})
		assert.ErrorIs(t, err, orchestrator.ErrActive, "no rollback while the batch runs")
		_, _, err = e.Restore(ctx, cp.ID)
		assert.ErrorIs(t, err, orchestrator.ErrActive)

		e.wait(t, b.ID)
		// Partial: only three, though four completed after it.
		rb, err := e.ExecuteRollback(ctx, orchestrator.RollbackRequest{BatchID: b.ID, Operations: []string{"three"}})
		require.NoError(t, err)
		assert.Equal(t, "execute", rb.Reason)
		_, _, compensated := rec.snapshot()
		assert.Equal(t, []string{"three"}, compensated)

		for _, tt := range []struct {
			name string
			req  orchestrator.RollbackRequest
		}{
			{"neither", orchestrator.RollbackRequest{BatchID: b.ID}},
			{"both", orchestrator.RollbackRequest{BatchID: b.ID, CheckpointID: cp.ID, Operations: []string{"one"}}},
			{"unknown operation", orchestrator.RollbackRequest{BatchID: b.ID, Operations: []string{"five"}}},
			{"already rolled back", orchestrator.RollbackRequest{BatchID: b.ID, Operations: []string{"three"}}},
			{"checkpoint of another batch", orchestrator.RollbackRequest{BatchID: "b_other", CheckpointID: cp.ID}},
		} {
			_, err := e.ExecuteRollback(ctx, tt.req)
			var inv *orchestrator.InvalidError
			assert.ErrorAs(t, err, &inv, tt.name)
		}

		// To the checkpoint: four, then two (three is done already).
		rb, err = e.ExecuteRollback(ctx, orchestrator.RollbackRequest{CheckpointID: cp.ID})
		require.NoError(t, err)
		assert.Equal(t, cp.ID, rb.CheckpointID)
		_, _, compensated = rec.snapshot()
		assert.Equal(t, []string{"three", "four", "two"}, compensated)

		// Restore runs everything after the checkpoint again.
		rb, restored, err := e.Restore(ctx, cp.ID)
		require.NoError(t, err)
		assert.Empty(t, rb.Steps, "nothing left to compensate")
		assert.Equal(t, orchestrator.StatusRunning, restored.Status)
		b, tasks := e.wait(t, b.ID)
		assert.Equal(t, orchestrator.StatusCompleted, b.Status)
		started, _, _ := rec.snapshot()
		assert.Equal(t, []string{"one", "two", "three", "four", "two", "three", "four"}, started)
		assert.Equal(t, 1, tasks["one"].CompletedSeq, "the checkpoint's operations stay as they were")
		assert.Equal(t, 2, tasks["two"].CompletedSeq)
		assert.Empty(t, tasks["four"].Compensation)

		cps, err := e.Checkpoints(ctx, b.ID)
		require.NoError(t, err)
		assert.Len(t, cps, 1)
	})
}

func TestIdempotencyKey(t *testing.T) {
	e := startEngine(t, orchestrator.Config{Types: types(&recorder{})})
	ctx := context.Background()
	spec := orchestrator.Spec{IdempotencyKey: "deploy-42", Operations: []orchestrator.Operation{op("a", "ok")}}
	first, created, err := e.Submit(ctx, orchestrator.KindBatch, spec, "")
	require.NoError(t, err)
	assert.True(t, created)
	again, created, err := e.Submit(ctx, orchestrator.KindBatch, spec, "")
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first.ID, again.ID)

	spec.Operations = append(spec.Operations, op("b", "ok"))
	_, _, err = e.Submit(ctx, orchestrator.KindBatch, spec, "")
	assert.ErrorIs(t, err, orchestrator.ErrIdempotencyConflict)
	_, _, err = e.Submit(ctx, orchestrator.KindWorkflow, orchestrator.Spec{IdempotencyKey: "deploy-42", Operations: spec.Operations[:1]}, "")
	assert.ErrorIs(t, err, orchestrator.ErrIdempotencyConflict, "the kind is part of the specification")

	// Concurrent submissions under one key make one batch.
	spec = orchestrator.Spec{IdempotencyKey: "race", Operations: []orchestrator.Operation{op("a", "ok")}}
	ids := make(chan string, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			b, _, err := e.Submit(ctx, orchestrator.KindBatch, spec, "")
			assert.NoError(t, err)
			ids <- b.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	assert.Len(t, seen, 1)
}

func TestValidation(t *testing.T) {
	e, err := orchestrator.New(orchestrator.Config{Types: types(&recorder{}), MaxOperations: 5})
	require.NoError(t, err)
	for _, tt := range []struct {
		name string
		spec orchestrator.Spec
		want string
	}{
		{"empty", orchestrator.Spec{}, "operations must not be empty"},
		{"too many", orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok"), op("b", "ok"), op("c", "ok"), op("d", "ok"), op("e", "ok"), op("f", "ok")}}, "operations has 6 operations; at most 5 are allowed"},
		{"unknown type", orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "rm -rf")}}, `operations[0].type "rm -rf" is not a registered task type`},
		{"duplicate id", orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok"), op("a", "ok")}}, `operations[1].id "a" is also operations[0].id`},
		{"bad id", orchestrator.Spec{Operations: []orchestrator.Operation{op("a b", "ok")}}, "operations[0].id must be 1-128 letters, digits, '-', '_', '.' or ':'"},
		{"unknown dependency", orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok", "ghost")}}, `operations[0].dependencies names "ghost", which is not an operation of the batch`},
		{"self dependency", orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok", "a")}}, `operations[0].dependencies makes "a" depend on itself`},
		{"repeated dependency", orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok"), op("b", "ok", "a", "a")}}, "operations[1].dependencies names an operation twice"},
		{"cycle", orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok", "c"), op("b", "ok", "a"), op("c", "ok", "b"), op("d", "ok", "a")}}, "operations have a dependency cycle: a -> c -> b -> a"},
		{"cycle behind a node", orchestrator.Spec{Operations: []orchestrator.Operation{op("x", "ok", "a"), op("a", "ok", "b"), op("b", "ok", "a")}}, "operations have a dependency cycle: "},
		{"bad args", orchestrator.Spec{Operations: []orchestrator.Operation{{ID: "a", Type: "ok", Args: []byte("{")}}}, "operations[0].args is not valid JSON"},
		{"parallel limit", orchestrator.Spec{ParallelLimit: -1, Operations: []orchestrator.Operation{op("a", "ok")}}, "parallel_limit must be from 0"},
		{"timeout", orchestrator.Spec{Operations: []orchestrator.Operation{{ID: "a", Type: "ok", TimeoutMS: -5}}}, "operations[0].timeout_ms must be from 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Validate(tt.spec)
			var inv *orchestrator.InvalidError
			require.ErrorAs(t, err, &inv)
			assert.Contains(t, err.Error(), tt.want)
			_, _, err = e.Submit(context.Background(), orchestrator.KindBatch, tt.spec, "")
			assert.ErrorAs(t, err, &inv, "Submit refuses it too")
		})
	}
	b, _, err := e.Batches(context.Background(), orchestrator.BatchFilter{})
	require.NoError(t, err)
	assert.Empty(t, b, "nothing invalid is stored")
}

func TestProgressAndSnapshots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		step := make(chan int)
		e := startEngine(t, orchestrator.Config{SnapshotLimit: 2, Types: map[string]orchestrator.TaskType{
			"report": {Run: func(ctx context.Context, _ orchestrator.Task) (any, error) {
				for p := range step {
					orchestrator.SetProgress(ctx, p)
				}
				return nil, nil
			}},
			"wait": {Run: func(ctx context.Context, _ orchestrator.Task) (any, error) { <-ctx.Done(); return nil, ctx.Err() }},
		}})
		ctx := context.Background()
		b, _, err := e.Submit(ctx, orchestrator.KindWorkflow, orchestrator.Spec{ParallelLimit: 1, Operations: []orchestrator.Operation{
			op("first", "report"), op("second", "wait", "first"),
		}}, "")
		require.NoError(t, err)
		time.Sleep(time.Minute)
		step <- 50
		synctest.Wait()
		p, err := e.Progress(ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, 25, p.Percent, "half of one of two")
		assert.Equal(t, "first", p.CurrentStep)
		assert.Equal(t, 0, p.CompletedSteps)
		assert.Equal(t, 2, p.TotalSteps)
		require.NotNil(t, p.ETASeconds)
		assert.InDelta(t, 180, *p.ETASeconds, 0.001, "60s for 25%% leaves 180s")
		task, err := e.Task(ctx, b.ID+".0")
		require.NoError(t, err)
		assert.Equal(t, 50, task.Progress)

		close(step)
		synctest.Wait()
		p, err = e.Progress(ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, 50, p.Percent)
		assert.Equal(t, "second", p.CurrentStep)
		assert.Equal(t, 1, p.CompletedSteps)

		snaps, err := e.Snapshots(ctx, b.ID)
		require.NoError(t, err)
		require.Len(t, snaps, 2, "bounded")
		last := snaps[len(snaps)-1]
		assert.Equal(t, "second: pending -> running", last.Transition)
		assert.Equal(t, orchestrator.Counts{Running: 1, Completed: 1}, last.Counts)
		for i := 1; i < len(snaps); i++ {
			assert.Equal(t, snaps[i-1].Seq+1, snaps[i].Seq)
		}
		_, err = e.Cancel(ctx, b.ID)
		require.NoError(t, err)
		e.wait(t, b.ID)
	})
}
