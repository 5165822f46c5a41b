package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// run is a batch being executed. Its mutex orders every transition of
// the batch's tasks, and each transition is written to the store, logged
// as an event and recorded as a snapshot while it is held, so that what
// the store, the event log and the snapshots say agree.
type run struct {
	e      *Engine
	ctx    context.Context // cancelled by Cancel and when the engine stops
	cancel context.CancelFunc
	done   chan struct{} // closed when the batch has finished

	mu         sync.Mutex
	batch      Batch
	tasks      []Task
	g          *graph
	waiting    []int32 // dependencies not yet completed, per task
	ready      []int32 // runnable, held back by the parallel limit
	inflight   int     // queued or running (retry waits included)
	left       int     // tasks not yet final
	completed  int     // the last CompletedSeq handed out
	counts     Counts
	progress   int // the sum of the tasks' progress, final tasks at 100
	timers     map[int32]*time.Timer
	failed     bool
	cancelling bool
	finishing  bool
	snapSeq    int
}

// newRun builds the run of a batch whose tasks may already have
// progressed (recovery, restore): completed tasks release their
// dependents, and pending tasks behind a failed or cancelled one are
// cancelled. It returns nil if the batch has a run already.
func (e *Engine) newRun(b Batch, tasks []Task, g *graph) *run {
	ctx, cancel := context.WithCancel(e.base)
	r := &run{
		e: e, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		batch: b, tasks: tasks, g: g,
		waiting: make([]int32, len(tasks)),
		timers:  map[int32]*time.Timer{},

		cancelling: b.CancelRequested,
	}
	for i := range tasks {
		t := &tasks[i]
		r.counts.add(t.Status, 1)
		if t.Status.Final() {
			r.progress += 100
		} else {
			r.left++
			r.progress += t.Progress
		}
		r.completed = max(r.completed, t.CompletedSeq)
		if t.Status == StatusFailed {
			r.failed = true
		}
	}
	for i := range tasks {
		for _, d := range tasks[i].Dependencies {
			if tasks[g.index[d]].Status != StatusCompleted {
				r.waiting[i]++
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.runs[b.ID]; dup {
		// Submit and Run's recovery both found the batch; the first runs it.
		cancel()
		return nil
	}
	e.runs[b.ID] = r
	return r
}

// start marks the batch running and dispatches what can run.
func (r *run) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.batch.Status != StatusRunning {
		r.batch.Status = StatusRunning
		if r.batch.StartedAt.IsZero() {
			r.batch.StartedAt = r.e.now()
		}
		r.e.storeErr(r.e.store.UpdateBatch(r.storeCtx(), r.batch), "updating batch")
	}
	for i := range r.tasks {
		switch t := &r.tasks[i]; {
		case t.Status == StatusFailed || t.Status == StatusCancelled:
			r.skipDependents(int32(i))
		case t.Status == StatusPending && r.waiting[i] == 0:
			r.ready = append(r.ready, int32(i))
		}
	}
	switch {
	case r.cancelling:
		r.stopPending("cancelled")
	case r.failed && r.batch.RollbackEnabled:
		r.stopPending("the batch failed and is rolled back")
	}
	r.dispatch()
	r.maybeFinish()
}

// storeCtx is the context of store writes: not cancelled with the batch,
// so a cancellation is recorded too.
func (r *run) storeCtx() context.Context { return context.WithoutCancel(r.ctx) }

// dispatch queues ready tasks while the parallel limit allows.
func (r *run) dispatch() {
	if r.cancelling || r.failed && r.batch.RollbackEnabled {
		return
	}
	n := 0
	for r.inflight < r.batch.ParallelLimit && n < len(r.ready) {
		r.inflight++
		r.e.q.push(job{r, r.ready[n]})
		n++
	}
	r.ready = r.ready[n:]
}

// exec runs one attempt of task i on a worker.
func (r *run) exec(i int32) {
	r.mu.Lock()
	t := &r.tasks[i]
	if t.Status != StatusPending || r.ctx.Err() != nil {
		// Cancelled while queued, or the engine is stopping.
		r.inflight--
		r.mu.Unlock()
		return
	}
	t.Attempts++
	if t.StartedAt.IsZero() {
		t.StartedAt = r.e.now()
	}
	r.transition(i, StatusRunning, EventTaskStarted, "")
	view := t.clone()
	tt := r.e.types[t.Type]
	r.mu.Unlock()

	r.e.metrics.running.Add(1)
	began := time.Now()
	ctx, cancel := context.WithTimeout(r.ctx, view.Timeout)
	out, err := call(context.WithValue(ctx, reporterKey{}, reporter{r, i}), tt.Run, view)
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded) && r.ctx.Err() == nil
	cancel()
	r.e.metrics.running.Add(-1)
	if timedOut && err != nil {
		err = fmt.Errorf("attempt %d timed out after %s", view.Attempts, view.Timeout)
	}
	var raw json.RawMessage
	if err == nil && out != nil {
		if raw, err = json.Marshal(out); err != nil {
			err = Permanent(fmt.Errorf("output is not JSON: %w", err))
		}
	}
	r.finish(i, raw, err, time.Since(began))
}

// call runs a handler, turning a panic into an error.
func call(ctx context.Context, h Handler, t Task) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Permanent(fmt.Errorf("task panicked: %v", p))
		}
	}()
	return h(ctx, t)
}

// finish records the end of an attempt.
func (r *run) finish(i int32, out json.RawMessage, err error, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.e.base.Err() != nil {
		// The engine is stopping: leave the task running in the store
		// for the next Run to recover.
		return
	}
	t := &r.tasks[i]
	r.e.metrics.observe(t.Type, took)
	switch {
	case err == nil:
		t.Output, t.Error = out, ""
		r.complete(i)
	case r.cancelling:
		t.Error = "cancelled"
		r.end(i, StatusCancelled, EventTaskCancelled)
	case t.Attempts < t.MaxAttempts && !errors.As(err, new(permanentError)):
		t.Error = err.Error()
		delay := r.e.cfg.Retry.Delay(t.Attempts)
		r.transition(i, StatusPending, EventTaskRetrying, fmt.Sprintf(", retry in %s", delay))
		r.timers[i] = time.AfterFunc(delay, func() { r.retry(i) })
		return // the task keeps its place under the parallel limit
	default:
		t.Error = err.Error()
		r.fail(i)
	}
	r.inflight--
	r.dispatch()
	r.maybeFinish()
}

// retry queues task i again once its backoff has passed.
func (r *run) retry(i int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.timers[i]; !ok {
		return // cancelled meanwhile
	}
	delete(r.timers, i)
	r.e.q.push(job{r, i})
}

func (r *run) complete(i int32) {
	t := &r.tasks[i]
	r.completed++
	t.CompletedSeq = r.completed
	r.progress += 100 - t.Progress
	t.Progress = 100
	t.FinishedAt = r.e.now()
	r.transitionFinal(i, StatusCompleted, EventTaskCompleted)
	for _, j := range r.g.dependents[i] {
		if r.waiting[j]--; r.waiting[j] == 0 && r.tasks[j].Status == StatusPending {
			r.ready = append(r.ready, j)
		}
	}
}

// fail fails task i: its dependents will not run, and with rollback
// enabled nothing else starts.
func (r *run) fail(i int32) {
	r.failed = true
	if r.batch.Error == "" {
		r.batch.Error = fmt.Sprintf("operation %s failed: %s", r.tasks[i].Operation, r.tasks[i].Error)
	}
	r.end(i, StatusFailed, EventTaskFailed)
	r.skipDependents(i)
	if r.batch.RollbackEnabled {
		r.stopPending("the batch failed and is rolled back")
	}
}

// end moves task i to a final status other than completed.
func (r *run) end(i int32, s Status, event string) {
	t := &r.tasks[i]
	r.progress += 100 - t.Progress
	t.FinishedAt = r.e.now()
	r.transitionFinal(i, s, event)
}

func (r *run) transitionFinal(i int32, s Status, event string) {
	r.left--
	r.e.metrics.finished(s)
	r.transition(i, s, event, "")
}

// skipDependents cancels the pending tasks that depend, directly or not,
// on task i.
func (r *run) skipDependents(i int32) {
	stack := []int32{i}
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range r.g.dependents[k] {
			if t := &r.tasks[j]; t.Status == StatusPending {
				t.Error = fmt.Sprintf("not run: dependency %s did not complete", r.tasks[k].Operation)
				r.end(j, StatusCancelled, EventTaskCancelled)
				stack = append(stack, j)
			}
		}
	}
}

// stopPending cancels every task that has not started, and those waiting
// to retry.
func (r *run) stopPending(reason string) {
	for i := range r.tasks {
		t := &r.tasks[i]
		if t.Status != StatusPending {
			continue
		}
		if tm, ok := r.timers[int32(i)]; ok {
			// Not queued yet: retry finds the timer gone and does nothing.
			tm.Stop()
			delete(r.timers, int32(i))
			r.inflight--
		}
		if t.Error == "" || t.Attempts == 0 {
			t.Error = reason
		}
		r.end(int32(i), StatusCancelled, EventTaskCancelled)
	}
	r.ready = nil
}

// cancelRun is Cancel for a live run.
func (r *run) cancelRun() (Batch, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.left == 0 || r.finishing {
		return r.batch, ErrFinished
	}
	if !r.cancelling {
		r.cancelling = true
		r.batch.CancelRequested, r.batch.Error = true, "cancelled"
		r.e.storeErr(r.e.store.UpdateBatch(r.storeCtx(), r.batch), "updating batch")
		r.stopPending("cancelled")
		r.cancel()
		r.maybeFinish()
	}
	return r.batch, nil
}

// maybeFinish ends the batch once every task is final: completed,
// failed (after the rollback, if enabled) or cancelled.
func (r *run) maybeFinish() {
	if r.left > 0 || r.finishing {
		return
	}
	r.finishing = true
	switch {
	case r.cancelling:
		r.close(StatusCancelled, EventBatchCancelled)
	case r.failed && r.batch.RollbackEnabled:
		if r.e.base.Err() != nil {
			return // the next Run recovers the batch and rolls it back
		}
		r.e.wg.Add(1)
		go func() {
			defer r.e.wg.Done()
			rb, err := r.e.compensate(r.storeCtx(), r.batch.ID, "failure")
			r.mu.Lock()
			defer r.mu.Unlock()
			if err != nil {
				r.e.log.Error("orchestrator: automatic rollback", "batch", r.batch.ID, "err", err)
			}
			r.batch.RollbackID = rb.ID
			r.close(StatusFailed, EventBatchFailed)
		}()
	case r.failed:
		r.close(StatusFailed, EventBatchFailed)
	default:
		r.close(StatusCompleted, EventBatchCompleted)
	}
}

// close writes the batch's final status and retires the run.
func (r *run) close(s Status, event string) {
	if r.e.base.Err() != nil {
		return
	}
	from := r.batch.Status
	r.batch.Status = s
	r.batch.FinishedAt = r.e.now()
	if s == StatusCompleted {
		r.batch.Error = ""
	}
	r.e.storeErr(r.e.store.UpdateBatch(r.storeCtx(), r.batch), "updating batch")
	r.e.hub.publish(event, batchEvent(r.batch))
	r.snapshot(fmt.Sprintf("batch: %s -> %s", from, s))
	r.e.mu.Lock()
	delete(r.e.runs, r.batch.ID)
	r.e.mu.Unlock()
	r.e.release(r.batch.ID)
	r.cancel()
	close(r.done)
}

// transition records task i's move to status s: the counts, the store,
// the event and a snapshot.
func (r *run) transition(i int32, s Status, event, note string) {
	t := &r.tasks[i]
	from := t.Status
	r.counts.add(from, -1)
	r.counts.add(s, 1)
	t.Status = s
	r.e.storeErr(r.e.store.UpdateTask(r.storeCtx(), *t), "updating task")
	r.e.hub.publish(event, taskEvent(t))
	r.snapshot(fmt.Sprintf("%s: %s -> %s%s", t.Operation, from, s, note))
}

func (r *run) snapshot(what string) {
	r.snapSeq++
	s := Snapshot{
		Seq: r.snapSeq, At: r.e.now(), Status: r.batch.Status, Counts: r.counts,
		Percent: r.percent(), Transition: what,
	}
	r.e.storeErr(r.e.store.AppendSnapshot(r.storeCtx(), r.batch.ID, s, r.e.cfg.SnapshotLimit), "appending snapshot")
}

func (r *run) percent() int {
	if len(r.tasks) == 0 {
		return 100
	}
	return r.progress / len(r.tasks)
}

// snapshotBatch returns the batch as the run holds it.
func (r *run) snapshotBatch() Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.batch
}

// setProgress records a handler's progress report.
func (r *run) setProgress(i int32, pct int) {
	pct = min(max(pct, 0), 99) // 100 is for completion
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &r.tasks[i]
	if t.Status != StatusRunning || t.Progress == pct {
		return
	}
	r.progress += pct - t.Progress
	t.Progress = pct
	r.e.storeErr(r.e.store.UpdateTask(r.storeCtx(), *t), "updating task")
	r.e.hub.publish(EventTaskProgress, taskEvent(t))
}

type reporterKey struct{}

type reporter struct {
	r *run
	i int32
}

// SetProgress reports a running task's progress, 0-99 percent (a task
// reaches 100 when it completes). It does nothing for a ctx that is not
// a task's.
func SetProgress(ctx context.Context, percent int) {
	if rep, ok := ctx.Value(reporterKey{}).(reporter); ok {
		rep.r.setProgress(rep.i, percent)
	}
}

func (e *Engine) storeErr(err error, what string) {
	if err != nil {
		e.log.Error("orchestrator: store: "+what, "err", err)
	}
}

// taskEventData is the data of task events.
type taskEventData struct {
	BatchID   string `json:"batch_id"`
	TaskID    string `json:"task_id"`
	Operation string `json:"id"`
	Type      string `json:"type"`
	Status    Status `json:"status"`
	Progress  int    `json:"progress"`
	Attempt   int    `json:"attempt"`
	Error     string `json:"error,omitempty"`
}

func taskEvent(t *Task) taskEventData {
	return taskEventData{
		BatchID: t.BatchID, TaskID: t.ID, Operation: t.Operation, Type: t.Type,
		Status: t.Status, Progress: t.Progress, Attempt: t.Attempts, Error: t.Error,
	}
}

type batchEventData struct {
	BatchID    string `json:"batch_id"`
	Kind       Kind   `json:"kind"`
	Name       string `json:"name"`
	Status     Status `json:"status"`
	Error      string `json:"error,omitempty"`
	RollbackID string `json:"rollback_id,omitempty"`
}

func batchEvent(b Batch) batchEventData {
	return batchEventData{BatchID: b.ID, Kind: b.Kind, Name: b.Name, Status: b.Status, Error: b.Error, RollbackID: b.RollbackID}
}

// completedOrder returns the indexes of the completed tasks that are not
// compensated (or whose compensation failed), in completion order.
func completedOrder(tasks []Task) []int {
	var out []int
	for i, t := range tasks {
		if t.Status == StatusCompleted && (t.Compensation == "" || t.Compensation == CompensationFailed) {
			out = append(out, i)
		}
	}
	slices.SortFunc(out, func(a, b int) int { return tasks[a].CompletedSeq - tasks[b].CompletedSeq })
	return out
}
