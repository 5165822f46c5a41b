package orchestrator_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/orchestrator"
)

// Engines sharing a store (as instances sharing a database do) run each
// batch on exactly one of them: a batch whose engine died waits for its
// lease to run out, and then exactly one of the others takes it over.
func TestEnginesSharingAStoreClaimEachBatchOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := orchestrator.NewMemoryStore()
		var mu sync.Mutex
		ran := map[string][]string{} // task id -> instances that ran it
		counting := func(instance string) map[string]orchestrator.TaskType {
			return map[string]orchestrator.TaskType{"count": {Run: func(_ context.Context, task orchestrator.Task) (any, error) {
				mu.Lock()
				ran[task.ID] = append(ran[task.ID], instance)
				mu.Unlock()
				return nil, nil
			}}}
		}
		// An engine that claims its batches and then dies: it never runs.
		dead, err := orchestrator.New(orchestrator.Config{Store: store, Types: counting("dead"), Instance: "dead"})
		require.NoError(t, err)
		ctx := context.Background()
		var ids []string
		for range 6 {
			b, _, err := dead.Submit(ctx, orchestrator.KindBatch, orchestrator.Spec{Operations: []orchestrator.Operation{
				op("a", "count"), op("b", "count", "a"), op("c", "count"),
			}}, "")
			require.NoError(t, err)
			ids = append(ids, b.ID)
		}

		lease := 30 * time.Second
		for _, name := range []string{"b", "c"} {
			startEngine(t, orchestrator.Config{Store: store, Types: counting(name), Instance: name, ClaimLease: lease})
		}
		synctest.Wait()
		time.Sleep(lease - time.Second)
		synctest.Wait()
		mu.Lock()
		assert.Empty(t, ran, "nobody takes a batch over while its claim lasts")
		mu.Unlock()

		time.Sleep(lease)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			b, err := store.GetBatch(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, orchestrator.StatusCompleted, b.Status, "batch %s is taken over and finished", id)
			tasks, err := store.Tasks(ctx, id)
			require.NoError(t, err)
			var by string
			for _, task := range tasks {
				require.Len(t, ran[task.ID], 1, "task %s runs exactly once: %v", task.ID, ran[task.ID])
				if by == "" {
					by = ran[task.ID][0]
				}
				assert.Equal(t, by, ran[task.ID][0], "one engine runs the whole batch %s", id)
			}
		}
	})
}

// An engine that stops hands its unfinished batches over at once.
func TestStoppedEngineReleasesItsBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := orchestrator.NewMemoryStore()
		block := func(ctx context.Context, _ orchestrator.Task) (any, error) { <-ctx.Done(); return nil, ctx.Err() }
		first := startEngine(t, orchestrator.Config{Store: store, Instance: "first",
			Types: map[string]orchestrator.TaskType{"work": {Run: block, Idempotent: true}}})
		done := make(chan string, 1)
		second := startEngine(t, orchestrator.Config{Store: store, Instance: "second",
			Types: map[string]orchestrator.TaskType{"work": {Run: func(_ context.Context, task orchestrator.Task) (any, error) {
				done <- task.ID
				return nil, nil
			}, Idempotent: true}}})
		b, _, err := first.Submit(context.Background(), orchestrator.KindBatch, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "work")}}, "")
		require.NoError(t, err)
		synctest.Wait()
		start := time.Now()
		first.stop()
		assert.Equal(t, b.ID+".0", <-done, "the other engine runs the released batch")
		assert.LessOrEqual(t, time.Since(start), orchestrator.DefaultClaimLease/3, "within one renewal period, not a lease")
		got, _ := second.wait(t, b.ID)
		assert.Equal(t, orchestrator.StatusCompleted, got.Status)
	})
}

// A rollback needs the batch's claim: while another engine holds it, the
// rollback is refused; once free, it runs.
func TestRollbackNeedsTheClaim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := orchestrator.NewMemoryStore()
		e := startEngine(t, orchestrator.Config{Store: store, Instance: "me", Types: types(&recorder{})})
		b, _ := e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok")}})
		ctx := context.Background()
		ok, err := store.Claim(ctx, b.ID, "other", time.Now(), time.Now().Add(time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
		_, err = e.ExecuteRollback(ctx, orchestrator.RollbackRequest{BatchID: b.ID, Operations: []string{"a"}})
		require.ErrorIs(t, err, orchestrator.ErrActive, "another engine holds the batch")
		require.NoError(t, store.ReleaseClaim(ctx, b.ID, "other"))
		_, err = e.ExecuteRollback(ctx, orchestrator.RollbackRequest{BatchID: b.ID, Operations: []string{"a"}})
		require.NoError(t, err)
		ok, err = store.Claim(ctx, b.ID, "other", time.Now(), time.Now().Add(time.Minute))
		require.NoError(t, err)
		assert.True(t, ok, "the rollback released its claim")
	})
}
