package orchestrator_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/orchestrator"
)

func TestRestartRecoversRunningTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := orchestrator.NewMemoryStore()
		block := func(ctx context.Context, _ orchestrator.Task) (any, error) { <-ctx.Done(); return nil, ctx.Err() }
		done := func(context.Context, orchestrator.Task) (any, error) { return "again", nil }
		first := startEngine(t, orchestrator.Config{Store: store, Types: map[string]orchestrator.TaskType{
			"retryable": {Run: block, Idempotent: true},
			"once":      {Run: block},
			"after":     {Run: block},
		}})
		ctx := context.Background()
		requeued, _, err := first.Submit(ctx, orchestrator.KindBatch, orchestrator.Spec{Operations: []orchestrator.Operation{
			op("r", "retryable"), op("next", "after", "r"),
		}}, "")
		require.NoError(t, err)
		failed, _, err := first.Submit(ctx, orchestrator.KindBatch, orchestrator.Spec{Operations: []orchestrator.Operation{
			op("o", "once"), op("next", "after", "o"),
		}}, "")
		require.NoError(t, err)
		synctest.Wait()
		first.stop() // the process goes away with both tasks running

		for _, id := range []string{requeued.ID, failed.ID} {
			b, tasks, err := first.Batch(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, orchestrator.StatusRunning, b.Status, "a stopped engine leaves the batch as it was")
			assert.Equal(t, orchestrator.StatusRunning, tasks[0].Status)
		}

		second := startEngine(t, orchestrator.Config{Store: store, Types: map[string]orchestrator.TaskType{
			"retryable": {Run: done, Idempotent: true},
			"once":      {Run: done},
			"after":     {Run: done},
		}})
		b, tasks := second.wait(t, requeued.ID)
		assert.Equal(t, orchestrator.StatusCompleted, b.Status)
		assert.Equal(t, 2, tasks["r"].Attempts, "an idempotent task runs again")
		assert.JSONEq(t, `"again"`, string(tasks["r"].Output))
		assert.Equal(t, orchestrator.StatusCompleted, tasks["next"].Status)

		b, tasks = second.wait(t, failed.ID)
		assert.Equal(t, orchestrator.StatusFailed, b.Status)
		assert.Equal(t, orchestrator.StatusFailed, tasks["o"].Status)
		assert.Equal(t, "interrupted by a restart; the task type is not idempotent", tasks["o"].Error)
		assert.Equal(t, orchestrator.StatusCancelled, tasks["next"].Status)
	})
}

func TestSubmitBeforeRun(t *testing.T) {
	e, err := orchestrator.New(orchestrator.Config{Types: types(&recorder{})})
	require.NoError(t, err)
	b, _, err := e.Submit(context.Background(), orchestrator.KindBatch, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok")}}, "")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	got, err := e.Wait(context.Background(), b.ID)
	require.NoError(t, err)
	assert.Equal(t, orchestrator.StatusCompleted, got.Status)
	cancel()
	require.NoError(t, <-done)
	_, _, err = e.Submit(context.Background(), orchestrator.KindBatch, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok")}}, "")
	assert.ErrorIs(t, err, orchestrator.ErrStopped)
}

// Events published before Run (by a Submit) continue the stored log's
// sequence instead of starting again at 1.
func TestSequenceContinuesAcrossProcesses(t *testing.T) {
	store := orchestrator.NewMemoryStore()
	first := startEngine(t, orchestrator.Config{Store: store, Types: types(&recorder{})})
	first.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok")}}) // events 1-4
	first.stop()

	second, err := orchestrator.New(orchestrator.Config{Store: store, Types: types(&recorder{})})
	require.NoError(t, err)
	_, _, err = second.Submit(context.Background(), orchestrator.KindBatch, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok")}}, "")
	require.NoError(t, err)
	assert.Equal(t, uint64(5), second.LastSeq(), "batch.submitted is event 5")
	evs, err := store.Events(context.Background(), 0, 0)
	require.NoError(t, err)
	for i, ev := range evs {
		assert.Equal(t, uint64(i+1), ev.Seq)
	}
}
