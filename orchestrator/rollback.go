package orchestrator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrCompensation is a restore whose rollback failed: the batch is left
// as the failed compensation left it and is not run again.
var ErrCompensation = errors.New("orchestrator: a compensation failed")

// CreateCheckpoint records, under a name, which operations of a batch
// have completed (and not been compensated) so far. The batch may be
// running.
func (e *Engine) CreateCheckpoint(ctx context.Context, batchID, name string) (Checkpoint, error) {
	if name == "" || len(name) > maxName {
		return Checkpoint{}, invalid("name", "must be 1-%d bytes", maxName)
	}
	if batchID == "" {
		return Checkpoint{}, invalid("batch_id", "is required")
	}
	tasks, err := e.store.Tasks(ctx, batchID)
	if err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{ID: newID("cp_"), BatchID: batchID, Name: name, Completed: []string{}, CreatedAt: e.now()}
	for _, i := range completedOrder(tasks) {
		c.Completed = append(c.Completed, tasks[i].Operation)
	}
	if err := e.store.CreateCheckpoint(ctx, c); err != nil {
		return Checkpoint{}, err
	}
	e.hub.publish(EventCheckpointCreated, c)
	return c, nil
}

// Checkpoint returns one checkpoint.
func (e *Engine) Checkpoint(ctx context.Context, id string) (Checkpoint, error) {
	return e.store.GetCheckpoint(ctx, id)
}

// Checkpoints returns a batch's checkpoints, or all for "".
func (e *Engine) Checkpoints(ctx context.Context, batchID string) ([]Checkpoint, error) {
	return e.store.ListCheckpoints(ctx, batchID)
}

// RollbackRequest says what ExecuteRollback undoes: the operations
// completed after a checkpoint, or the listed operations. Exactly one of
// CheckpointID and Operations is set.
type RollbackRequest struct {
	BatchID      string   `json:"batch_id"`
	CheckpointID string   `json:"checkpoint_id,omitempty"`
	Operations   []string `json:"operations,omitempty"`
}

// ExecuteRollback compensates operations of a finished batch in reverse
// completion order: those completed after a checkpoint (rolling the
// batch back to it), or those listed (a partial rollback). It stops at
// the first compensation that fails; the rollback then has status failed
// and a later one tries that operation again. A batch still running is
// ErrActive.
func (e *Engine) ExecuteRollback(ctx context.Context, req RollbackRequest) (Rollback, error) {
	switch {
	case req.CheckpointID == "" && len(req.Operations) == 0:
		return Rollback{}, invalid("checkpoint_id", "or operations is required")
	case req.CheckpointID != "" && len(req.Operations) > 0:
		return Rollback{}, invalid("checkpoint_id", "and operations cannot be combined")
	}
	var cp Checkpoint
	if req.CheckpointID != "" {
		var err error
		if cp, err = e.checkpointOf(ctx, req.CheckpointID, req.BatchID); err != nil {
			return Rollback{}, err
		}
		req.BatchID = cp.BatchID
	}
	if req.BatchID == "" {
		return Rollback{}, invalid("batch_id", "is required")
	}
	release, err := e.hold(ctx, req.BatchID)
	if err != nil {
		return Rollback{}, err
	}
	defer release()
	tasks, err := e.store.Tasks(ctx, req.BatchID)
	if err != nil {
		return Rollback{}, err
	}
	var undo map[string]bool
	if req.CheckpointID != "" {
		undo = afterCheckpoint(tasks, cp)
	} else {
		undo = map[string]bool{}
		byOp := make(map[string]Task, len(tasks))
		for _, t := range tasks {
			byOp[t.Operation] = t
		}
		for i, op := range req.Operations {
			t, ok := byOp[op]
			field := fmt.Sprintf("operations[%d]", i)
			switch {
			case !ok:
				return Rollback{}, invalid(field, "%q is not an operation of the batch", truncate(op, maxOperationID))
			case t.Status != StatusCompleted:
				return Rollback{}, invalid(field, "%q is %s, not completed", op, t.Status)
			case t.Compensation != "" && t.Compensation != CompensationFailed:
				return Rollback{}, invalid(field, "%q has been rolled back already", op)
			}
			undo[op] = true
		}
	}
	reason := "execute"
	return e.runCompensations(ctx, req.BatchID, tasks, undo, reason, req.CheckpointID), nil
}

// Restore returns a finished batch to a checkpoint and runs it on from
// there: the operations completed after the checkpoint are compensated
// in reverse completion order, and every operation not in the checkpoint
// runs again. If a compensation fails, the batch is not run and the
// error is ErrCompensation.
func (e *Engine) Restore(ctx context.Context, checkpointID string) (Rollback, Batch, error) {
	cp, err := e.checkpointOf(ctx, checkpointID, "")
	if err != nil {
		return Rollback{}, Batch{}, err
	}
	release, err := e.hold(ctx, cp.BatchID)
	if err != nil {
		return Rollback{}, Batch{}, err
	}
	defer release()
	tasks, err := e.store.Tasks(ctx, cp.BatchID)
	if err != nil {
		return Rollback{}, Batch{}, err
	}
	rb := e.runCompensations(ctx, cp.BatchID, tasks, afterCheckpoint(tasks, cp), "restore", cp.ID)
	if rb.Status != StatusCompleted {
		return rb, Batch{}, ErrCompensation
	}
	if tasks, err = e.store.Tasks(ctx, cp.BatchID); err != nil {
		return rb, Batch{}, err
	}
	keep := make(map[string]bool, len(cp.Completed))
	for _, op := range cp.Completed {
		keep[op] = true
	}
	for _, t := range tasks {
		if keep[t.Operation] && t.Status == StatusCompleted && t.Compensation == "" {
			continue
		}
		t.Status, t.Progress, t.Attempts, t.Output, t.Error = StatusPending, 0, 0, nil, ""
		t.CompletedSeq, t.Compensation, t.StartedAt, t.FinishedAt = 0, "", time.Time{}, time.Time{}
		if err := e.store.UpdateTask(ctx, t); err != nil {
			return rb, Batch{}, err
		}
	}
	b, err := e.store.GetBatch(ctx, cp.BatchID)
	if err != nil {
		return rb, Batch{}, err
	}
	b.Status, b.Error, b.RollbackID, b.CancelRequested, b.FinishedAt = StatusPending, "", "", false, time.Time{}
	if err := e.store.UpdateBatch(ctx, b); err != nil {
		return rb, Batch{}, err
	}
	if err := e.resume(ctx, b); err != nil {
		return rb, Batch{}, err
	}
	b, err = e.store.GetBatch(ctx, b.ID)
	return rb, b, err
}

// checkpointOf returns a checkpoint, which must belong to batchID if
// that is set.
func (e *Engine) checkpointOf(ctx context.Context, id, batchID string) (Checkpoint, error) {
	cp, err := e.store.GetCheckpoint(ctx, id)
	if err != nil {
		return Checkpoint{}, err
	}
	if batchID != "" && cp.BatchID != batchID {
		return Checkpoint{}, invalid("checkpoint_id", "belongs to another batch")
	}
	return cp, nil
}

// hold makes sure a batch has finished and that no other rollback or
// restore of it runs until release is called.
func (e *Engine) hold(ctx context.Context, batchID string) (release func(), err error) {
	if e.base.Err() != nil {
		return nil, ErrStopped
	}
	b, err := e.store.GetBatch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if _, live := e.runs[batchID]; live || !b.Status.Final() {
		e.mu.Unlock()
		return nil, ErrActive
	}
	if e.rolling == nil {
		e.rolling = map[string]bool{}
	}
	if e.rolling[batchID] {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: a rollback of it is in progress", ErrActive)
	}
	e.rolling[batchID] = true
	e.mu.Unlock()
	// Engines sharing the store: the claim keeps the others from rolling
	// the batch back at the same time. Taken outside e.mu, a store call.
	if ok, err := e.claim(ctx, batchID); err != nil || !ok {
		e.mu.Lock()
		delete(e.rolling, batchID)
		e.mu.Unlock()
		return nil, cmp.Or(err, fmt.Errorf("%w: another engine holds the batch", ErrActive))
	}
	return func() {
		e.mu.Lock()
		delete(e.rolling, batchID)
		_, live := e.runs[batchID] // a restore runs it again, under the claim
		e.mu.Unlock()
		if !live {
			e.release(batchID)
		}
	}, nil
}

// afterCheckpoint returns the operations completed and not compensated
// that the checkpoint does not hold.
func afterCheckpoint(tasks []Task, cp Checkpoint) map[string]bool {
	in := make(map[string]bool, len(cp.Completed))
	for _, op := range cp.Completed {
		in[op] = true
	}
	undo := map[string]bool{}
	for _, i := range completedOrder(tasks) {
		if op := tasks[i].Operation; !in[op] {
			undo[op] = true
		}
	}
	return undo
}

// compensate rolls back every completed task of a batch: the automatic
// rollback after a failure.
func (e *Engine) compensate(ctx context.Context, batchID, reason string) (Rollback, error) {
	tasks, err := e.store.Tasks(ctx, batchID)
	if err != nil {
		return Rollback{}, err
	}
	return e.runCompensations(ctx, batchID, tasks, nil, reason, ""), nil
}

// runCompensations compensates the completed tasks in undo (all of them
// if undo is nil) in reverse completion order, stopping at the first
// failure, and records the rollback.
func (e *Engine) runCompensations(ctx context.Context, batchID string, tasks []Task, undo map[string]bool, reason, checkpointID string) Rollback {
	order := completedOrder(tasks)
	slices.Reverse(order)
	rb := Rollback{
		ID: newID("rb_"), BatchID: batchID, Reason: reason, CheckpointID: checkpointID,
		Status: StatusRunning, Steps: []RollbackStep{}, StartedAt: e.now(),
	}
	e.storeErr(e.store.PutRollback(ctx, rb), "storing rollback")
	rb.Status = StatusCompleted
	for _, i := range order {
		t := tasks[i]
		if undo != nil && !undo[t.Operation] {
			continue
		}
		step := RollbackStep{Operation: t.Operation, Result: CompensationNone}
		if tt, ok := e.types[t.Type]; ok && tt.Compensate != nil {
			cctx, cancel := context.WithTimeout(ctx, e.cfg.CompensationTimeout)
			err := callCompensation(cctx, tt.Compensate, t)
			cancel()
			step.Result = CompensationDone
			if err != nil {
				step.Result, step.Error = CompensationFailed, err.Error()
			}
		}
		t.Compensation = step.Result
		e.storeErr(e.store.UpdateTask(ctx, t), "updating task")
		rb.Steps = append(rb.Steps, step)
		if step.Result == CompensationFailed {
			rb.Status = StatusFailed
			break
		}
	}
	rb.FinishedAt = e.now()
	e.storeErr(e.store.PutRollback(ctx, rb), "storing rollback")
	e.metrics.rollback(rb)
	event := EventRollbackCompleted
	if rb.Status == StatusFailed {
		event = EventRollbackFailed
	}
	e.hub.publish(event, rb)
	return rb
}

func callCompensation(ctx context.Context, c Compensator, t Task) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("compensation panicked: %v", p)
		}
	}()
	return c(ctx, t)
}

// Rollback returns one rollback.
func (e *Engine) Rollback(ctx context.Context, id string) (Rollback, error) {
	return e.store.GetRollback(ctx, id)
}

// RollbackStats sums up the rollbacks.
type RollbackStats struct {
	Total       int     `json:"total"`
	Completed   int     `json:"completed"`
	Failed      int     `json:"failed"`
	SuccessRate float64 `json:"success_rate"` // completed / finished, 0-1; 0 with none
	AverageMS   float64 `json:"average_ms"`   // mean duration of the finished ones
}

// RollbackStats returns the rollback statistics.
func (e *Engine) RollbackStats(ctx context.Context) (RollbackStats, error) {
	rbs, err := e.store.ListRollbacks(ctx)
	if err != nil {
		return RollbackStats{}, err
	}
	var s RollbackStats
	var total time.Duration
	for _, rb := range rbs {
		s.Total++
		switch rb.Status {
		case StatusCompleted:
			s.Completed++
		case StatusFailed:
			s.Failed++
		default:
			continue
		}
		total += rb.FinishedAt.Sub(rb.StartedAt)
	}
	if n := s.Completed + s.Failed; n > 0 {
		s.SuccessRate = float64(s.Completed) / float64(n)
		s.AverageMS = float64(total.Microseconds()) / 1000 / float64(n)
	}
	return s, nil
}
