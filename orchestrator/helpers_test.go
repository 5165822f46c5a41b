package orchestrator_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/orchestrator"
)

// recorder notes what handlers and compensations did, in order.
type recorder struct {
	mu          sync.Mutex
	started     []string
	completed   []string
	compensated []string
}

func (r *recorder) add(list *[]string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, s)
}

func (r *recorder) snapshot() (started, completed, compensated []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.started...), append([]string(nil), r.completed...), append([]string(nil), r.compensated...)
}

// types returns task types that record into rec:
//
//	ok      completes at once, compensable
//	sleep   sleeps args.ms (fake time under synctest), compensable
//	fail    fails permanently with args.message
//	block   waits for its context to end
//	nocomp  completes, nothing to compensate
func types(rec *recorder) map[string]orchestrator.TaskType {
	run := func(body func(ctx context.Context, t orchestrator.Task) (any, error)) orchestrator.Handler {
		return func(ctx context.Context, t orchestrator.Task) (any, error) {
			rec.add(&rec.started, t.Operation)
			out, err := body(ctx, t)
			if err == nil {
				rec.add(&rec.completed, t.Operation)
			}
			return out, err
		}
	}
	comp := func(_ context.Context, t orchestrator.Task) error {
		rec.add(&rec.compensated, t.Operation)
		return nil
	}
	return map[string]orchestrator.TaskType{
		"ok": {Run: run(func(context.Context, orchestrator.Task) (any, error) {
			return map[string]string{"ok": "yes"}, nil
		}), Compensate: comp},
		"sleep": {Run: run(func(ctx context.Context, t orchestrator.Task) (any, error) {
			var a struct{ MS int }
			_ = json.Unmarshal(t.Args, &a)
			select {
			case <-time.After(time.Duration(a.MS) * time.Millisecond):
				return nil, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}), Compensate: comp, Idempotent: true},
		"fail": {Run: run(func(_ context.Context, t orchestrator.Task) (any, error) {
			var a struct{ Message string }
			_ = json.Unmarshal(t.Args, &a)
			return nil, orchestrator.Permanent(errors.New(a.Message))
		})},
		"block": {Run: run(func(ctx context.Context, t orchestrator.Task) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})},
		"nocomp": {Run: run(func(context.Context, orchestrator.Task) (any, error) { return nil, nil })},
	}
}

// engine is an Engine running until the test ends.
type engine struct {
	*orchestrator.Engine
	stop func()
}

func startEngine(t *testing.T, cfg orchestrator.Config) *engine {
	t.Helper()
	e, err := orchestrator.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		require.NoError(t, <-done)
	})
	t.Cleanup(stop)
	return &engine{e, stop}
}

// submit submits a batch and waits for it to finish.
func (e *engine) submitWait(t *testing.T, s orchestrator.Spec) (orchestrator.Batch, map[string]orchestrator.Task) {
	t.Helper()
	b, created, err := e.Submit(context.Background(), orchestrator.KindBatch, s, "tester")
	require.NoError(t, err)
	require.True(t, created)
	return e.wait(t, b.ID)
}

func (e *engine) wait(t *testing.T, id string) (orchestrator.Batch, map[string]orchestrator.Task) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := e.Wait(ctx, id)
	require.NoError(t, err)
	require.True(t, b.Status.Final(), "batch %s is %s", id, b.Status)
	_, tasks, err := e.Batch(context.Background(), id)
	require.NoError(t, err)
	byOp := map[string]orchestrator.Task{}
	for _, t := range tasks {
		byOp[t.Operation] = t
	}
	return b, byOp
}

func op(id, typ string, deps ...string) orchestrator.Operation {
	return orchestrator.Operation{ID: id, Type: typ, Dependencies: deps}
}

func opArgs(id, typ, args string, deps ...string) orchestrator.Operation {
	return orchestrator.Operation{ID: id, Type: typ, Args: json.RawMessage(args), Dependencies: deps}
}
