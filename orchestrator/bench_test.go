package orchestrator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/portico-dev/portico/orchestrator"
)

// dag10k is a 10,000-node DAG: each node after the first depends on up
// to three earlier ones, drawn with a fixed seed.
func dag10k(typ string) []orchestrator.Operation {
	rng := rand.New(rand.NewPCG(1, 2))
	ops := make([]orchestrator.Operation, 10_000)
	for i := range ops {
		ops[i] = orchestrator.Operation{ID: fmt.Sprint("op-", i), Type: typ}
		if i == 0 {
			continue
		}
		seen := map[int]bool{}
		for range 1 + rng.IntN(3) {
			if j := rng.IntN(i); !seen[j] {
				seen[j] = true
				ops[i].Dependencies = append(ops[i].Dependencies, ops[j].ID)
			}
		}
	}
	return ops
}

func independent10k(typ string) []orchestrator.Operation {
	ops := make([]orchestrator.Operation, 10_000)
	for i := range ops {
		ops[i] = orchestrator.Operation{ID: fmt.Sprint("op-", i), Type: typ}
	}
	return ops
}

var noop = map[string]orchestrator.TaskType{
	"noop": {Run: func(context.Context, orchestrator.Task) (any, error) { return nil, nil }},
}

// BenchmarkValidateDAG10k is the check Submit makes of a 10,000-node
// DAG: ids, types, dependencies and cycles.
func BenchmarkValidateDAG10k(b *testing.B) {
	e, err := orchestrator.New(orchestrator.Config{Types: noop})
	if err != nil {
		b.Fatal(err)
	}
	spec := orchestrator.Spec{Operations: dag10k("noop")}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Validate(spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThroughput runs batches of 10,000 no-op tasks on the memory
// store, from submission to the batch's end, and reports tasks per
// second. Every task is written to the store, logged as two events and
// recorded in two snapshots.
func BenchmarkThroughput(b *testing.B) {
	for _, bc := range []struct {
		name string
		ops  []orchestrator.Operation
	}{
		{"independent-10k", independent10k("noop")},
		{"dag-10k", dag10k("noop")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := orchestrator.New(orchestrator.Config{Types: noop, MaxParallelLimit: 10_000})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.Run(ctx) }()
			defer func() { cancel(); <-done }()
			spec := orchestrator.Spec{ParallelLimit: 10_000, Operations: bc.ops}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				batch, _, err := e.Submit(ctx, orchestrator.KindBatch, spec, "")
				if err != nil {
					b.Fatal(err)
				}
				if got, err := e.Wait(ctx, batch.ID); err != nil || got.Status != orchestrator.StatusCompleted {
					b.Fatal(got.Status, err)
				}
			}
			b.ReportMetric(float64(len(bc.ops)*b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
