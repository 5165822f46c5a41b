package orchestrator

import (
	"context"
	"time"
)

// Progress is how far a batch has come.
type Progress struct {
	BatchID string `json:"batch_id"`
	Status  Status `json:"status"`
	// Percent is the mean of the tasks' progress, a final task counting
	// as 100.
	Percent int `json:"percent"`
	// CurrentStep is the running operation that started last.
	CurrentStep    string   `json:"current_step"`
	Running        []string `json:"running"`
	CompletedSteps int      `json:"completed_steps"`
	FailedSteps    int      `json:"failed_steps"`
	CancelledSteps int      `json:"cancelled_steps"`
	TotalSteps     int      `json:"total_steps"`
	ElapsedSeconds float64  `json:"elapsed_seconds"`
	// ETASeconds estimates the time left from the rate so far; null when
	// the batch is not running or nothing has progressed yet.
	ETASeconds *float64 `json:"eta_seconds"`
}

// Progress returns a batch's progress.
func (e *Engine) Progress(ctx context.Context, id string) (Progress, error) {
	b, tasks, err := e.Batch(ctx, id)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{BatchID: b.ID, Status: b.Status, TotalSteps: len(tasks), Running: []string{}}
	sum := 0
	var latest time.Time
	for _, t := range tasks {
		switch t.Status {
		case StatusCompleted:
			p.CompletedSteps++
		case StatusFailed:
			p.FailedSteps++
		case StatusCancelled:
			p.CancelledSteps++
		case StatusRunning:
			p.Running = append(p.Running, t.Operation)
			if p.CurrentStep == "" || t.StartedAt.After(latest) {
				p.CurrentStep, latest = t.Operation, t.StartedAt
			}
		}
		if t.Status.Final() {
			sum += 100
		} else {
			sum += t.Progress
		}
	}
	if len(tasks) > 0 {
		p.Percent = sum / len(tasks)
	}
	if !b.StartedAt.IsZero() {
		end := b.FinishedAt
		if end.IsZero() {
			end = e.now()
		}
		elapsed := end.Sub(b.StartedAt).Seconds()
		p.ElapsedSeconds = elapsed
		if b.Status == StatusRunning && sum > 0 {
			eta := elapsed * float64(100*len(tasks)-sum) / float64(sum)
			p.ETASeconds = &eta
		}
	}
	return p, nil
}

// Snapshots returns a batch's snapshots, oldest first.
func (e *Engine) Snapshots(ctx context.Context, id string) ([]Snapshot, error) {
	return e.store.Snapshots(ctx, id)
}

// Batches lists batches, newest first, and how many the filter selects.
func (e *Engine) Batches(ctx context.Context, f BatchFilter) ([]Batch, int, error) {
	return e.store.ListBatches(ctx, f)
}

// Tasks lists tasks, and how many the filter selects.
func (e *Engine) Tasks(ctx context.Context, f TaskFilter) ([]Task, int, error) {
	return e.store.ListTasks(ctx, f)
}
