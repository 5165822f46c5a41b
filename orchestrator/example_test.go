package orchestrator_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/portico-dev/portico/orchestrator"
)

// A batch of three operations, the last of which fails: its
// dependencies completed, and with rollback enabled they are compensated
// in reverse completion order.
func Example() {
	var undone []string
	e, err := orchestrator.New(orchestrator.Config{
		Types: map[string]orchestrator.TaskType{
			"create": {
				Run: func(_ context.Context, t orchestrator.Task) (any, error) {
					return map[string]string{"created": t.Operation}, nil
				},
				Compensate: func(_ context.Context, t orchestrator.Task) error {
					undone = append(undone, t.Operation)
					return nil
				},
			},
			"fail": {Run: func(context.Context, orchestrator.Task) (any, error) {
				return nil, orchestrator.Permanent(errors.New("quota exceeded"))
			}},
		},
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()

	b, _, err := e.Submit(ctx, orchestrator.KindBatch, orchestrator.Spec{
		Name:            "provision",
		ParallelLimit:   1,
		RollbackEnabled: true,
		Operations: []orchestrator.Operation{
			{ID: "network", Type: "create"},
			{ID: "disk", Type: "create", Dependencies: []string{"network"}},
			{ID: "vm", Type: "fail", Dependencies: []string{"disk"}},
		},
	}, "alice")
	if err != nil {
		panic(err)
	}
	b, _ = e.Wait(ctx, b.ID)
	fmt.Println(b.Status, "-", b.Error)
	fmt.Println("compensated:", undone)

	stop()
	<-done
	// Output:
	// failed - operation vm failed: quota exceeded
	// compensated: [disk network]
}

// A cyclic DAG is refused before anything runs, with the cycle named.
func ExampleEngine_Validate() {
	e, _ := orchestrator.New(orchestrator.Config{Types: map[string]orchestrator.TaskType{
		"noop": {Run: func(context.Context, orchestrator.Task) (any, error) { return nil, nil }},
	}})
	err := e.Validate(orchestrator.Spec{Operations: []orchestrator.Operation{
		{ID: "a", Type: "noop", Dependencies: []string{"c"}},
		{ID: "b", Type: "noop", Dependencies: []string{"a"}},
		{ID: "c", Type: "noop", Dependencies: []string{"b"}},
	}})
	fmt.Println(err)
	// Output:
	// orchestrator: operations have a dependency cycle: a -> c -> b -> a
}
