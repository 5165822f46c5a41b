package orchestrator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/orchestrator"
)

// collect subscribes after seq and gathers events until n have arrived.
func collect(t *testing.T, e *engine, after uint64, n int) []orchestrator.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var evs []orchestrator.Event
	errDone := fmt.Errorf("done")
	err := e.Subscribe(ctx, after, func(ev orchestrator.Event) error {
		evs = append(evs, ev)
		if len(evs) == n {
			return errDone
		}
		return nil
	})
	require.ErrorIs(t, err, errDone, "got %d of %d events", len(evs), n)
	return evs
}

func TestEventsResumeBySequence(t *testing.T) {
	e := startEngine(t, orchestrator.Config{Types: types(&recorder{})})
	b, _ := e.submitWait(t, orchestrator.Spec{Name: "events", Operations: []orchestrator.Operation{op("a", "ok"), op("b", "ok", "a")}})
	// submitted, a started, a completed, b started, b completed, batch completed
	all := collect(t, e, 0, 6)
	var typesSeen []string
	for i, ev := range all {
		assert.Equal(t, uint64(i+1), ev.Seq, "strictly increasing from 1")
		typesSeen = append(typesSeen, ev.Type)
	}
	assert.Equal(t, []string{"batch.submitted", "task.started", "task.completed", "task.started", "task.completed", "batch.completed"}, typesSeen)
	var data struct {
		BatchID string `json:"batch_id"`
		ID      string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(all[2].Data, &data))
	assert.Equal(t, b.ID, data.BatchID)
	assert.Equal(t, "a", data.ID)

	resumed := collect(t, e, 3, 3)
	assert.Equal(t, all[3:], resumed, "resuming after seq 3 starts at 4")

	// Live events follow the stored ones without a gap or a repeat.
	done := make(chan []orchestrator.Event)
	go func() { done <- collect(t, e, 5, 1+6) }()
	e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok"), op("b", "ok", "a")}})
	got := <-done
	for i, ev := range got {
		assert.Equal(t, uint64(6+i), ev.Seq)
	}
}

func TestSlowSubscriberDoesNotStallTheEngine(t *testing.T) {
	e := startEngine(t, orchestrator.Config{SubscriberBuffer: 2, Types: types(&recorder{})})
	release := make(chan struct{})
	var (
		mu   sync.Mutex
		seqs []uint64
	)
	const tasks = 200
	want := 2 + 2*tasks // submitted, started+completed each, batch completed
	subDone := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		subDone <- e.Subscribe(ctx, 0, func(ev orchestrator.Event) error {
			<-release // stuck until the batch has finished
			mu.Lock()
			defer mu.Unlock()
			seqs = append(seqs, ev.Seq)
			if len(seqs) == want {
				return fmt.Errorf("all here")
			}
			return nil
		})
	}()
	var ops []orchestrator.Operation
	for i := range tasks {
		ops = append(ops, op(fmt.Sprint("t", i), "ok"))
	}
	b, _ := e.submitWait(t, orchestrator.Spec{ParallelLimit: 50, Operations: ops})
	assert.Equal(t, orchestrator.StatusCompleted, b.Status, "the batch finished while the subscriber was stuck")
	close(release)
	require.EqualError(t, <-subDone, "all here")
	for i, s := range seqs {
		require.Equal(t, uint64(i+1), s, "every event once, in order, after catching up from the store")
	}
}

func TestEventsLostToRetentionAreReportedAsAGap(t *testing.T) {
	store := orchestrator.NewMemoryStore()
	store.EventRetention = 4
	e := startEngine(t, orchestrator.Config{Store: store, Types: types(&recorder{})})
	e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok"), op("b", "ok")}}) // 6 events
	evs := collect(t, e, 0, 5)
	assert.Equal(t, orchestrator.EventGap, evs[0].Type)
	assert.Equal(t, uint64(2), evs[0].Seq)
	assert.JSONEq(t, `{"from":1,"to":2}`, string(evs[0].Data))
	for i, ev := range evs[1:] {
		assert.Equal(t, uint64(3+i), ev.Seq)
	}
}
