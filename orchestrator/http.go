package orchestrator

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/portico-dev/portico/internal/httpapi"
)

// errorStatus maps an error to its HTTP status, machine code and public
// message: the one place the package's errors meet HTTP.
func errorStatus(err error) (status int, code, msg string) {
	var (
		decodeErr  *httpapi.DecodeError
		invalidErr *InvalidError
	)
	switch {
	case errors.As(err, &decodeErr):
		return decodeErr.Status, decodeErr.Code, decodeErr.Msg
	case errors.As(err, &invalidErr):
		return http.StatusBadRequest, "invalid_field", invalidErr.Field + " " + invalidErr.Reason
	case errors.Is(err, ErrPrivateTarget):
		return http.StatusBadRequest, "private_target", "webhook targets on loopback or private networks are not allowed on this server"
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found", "not found"
	case errors.Is(err, ErrIdempotencyConflict):
		return http.StatusConflict, "idempotency_conflict", "the idempotency key was used for a different submission"
	case errors.Is(err, ErrFinished):
		return http.StatusConflict, "batch_finished", "the batch has already finished"
	case errors.Is(err, ErrActive):
		return http.StatusConflict, "batch_active", strings.TrimPrefix(err.Error(), "orchestrator: ")
	case errors.Is(err, ErrCompensation):
		return http.StatusConflict, "compensation_failed", "a compensation failed; the batch was not restored"
	case errors.Is(err, ErrExists):
		return http.StatusConflict, "conflict", "already exists"
	case errors.Is(err, ErrStopped):
		return http.StatusServiceUnavailable, "stopped", "the orchestrator is shutting down"
	}
	return http.StatusInternalServerError, "internal", "internal server error"
}

func (e *Engine) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := errorStatus(err)
	httpapi.Fail(w, r, e.log, status, code, msg, err)
}

// Handler serves the orchestrator's API relative to where the host
// mounts it (DESIGN.md puts it at /api/v1/orchestrator). It does no
// authentication or authorization: the host guards the routes, for
// instance with rbac permissions per route.
//
//	GET    /tasks                          tasks, newest batch first (?status=, ?batch_id=; paged)
//	GET    /tasks/{id}                     one task
//	POST   /workflows                      submit a workflow (a Spec; 201, or 200 for a repeated idempotency key)
//	POST   /batch/execute                  submit a batch (the same)
//	GET    /batch/operations               batches, newest first (?status=, ?kind=; paged)
//	GET    /batch/operations/{id}          one batch with its operations
//	POST   /batch/operations/{id}/cancel   cancel a batch (202)
//	GET    /state/workflows/{id}/progress  a batch's progress
//	GET    /state/workflows/{id}/snapshots a batch's snapshots
//	GET    /state/system/metrics           the engine's metrics
//	GET    /state/system/health            200 while Run serves, else 503
//	GET    /state/statistics               batches and tasks by status
//	GET    /rollback/checkpoints           checkpoints (?batch_id=; paged)
//	POST   /rollback/checkpoints           take one: {batch_id, name} (201)
//	GET    /rollback/checkpoints/{id}      one checkpoint
//	POST   /rollback/execute               {batch_id, checkpoint_id} or {batch_id, operations[]}
//	POST   /rollback/restore/{id}          restore a checkpoint and run on from it
//	GET    /rollback/statistics            count, success rate, average time
//	GET    /events                         Server-Sent Events, resuming after Last-Event-ID or ?since=
//	GET    /ws                             the same events over WebSocket, resuming after ?since=
//	GET    /webhooks                       webhooks, without secrets
//	POST   /webhooks                       {url, events[], secret?} (201, with the secret)
//	DELETE /webhooks/{id}                  remove one (204)
//
// A submission may carry its idempotency key in the body or in an
// Idempotency-Key header.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tasks", e.handleTasks)
	mux.HandleFunc("GET /tasks/{id}", e.handleTask)
	mux.HandleFunc("POST /workflows", e.handleSubmit(KindWorkflow))
	mux.HandleFunc("POST /batch/execute", e.handleSubmit(KindBatch))
	mux.HandleFunc("GET /batch/operations", e.handleBatches)
	mux.HandleFunc("GET /batch/operations/{id}", e.handleBatch)
	mux.HandleFunc("POST /batch/operations/{id}/cancel", e.handleCancel)
	mux.HandleFunc("GET /state/workflows/{id}/progress", e.handleProgress)
	mux.HandleFunc("GET /state/workflows/{id}/snapshots", e.handleSnapshots)
	mux.HandleFunc("GET /state/system/metrics", e.handleSystemMetrics)
	mux.HandleFunc("GET /state/system/health", e.handleHealth)
	mux.HandleFunc("GET /state/statistics", e.handleStatistics)
	mux.HandleFunc("GET /rollback/checkpoints", e.handleCheckpoints)
	mux.HandleFunc("POST /rollback/checkpoints", e.handleCreateCheckpoint)
	mux.HandleFunc("GET /rollback/checkpoints/{id}", e.handleCheckpoint)
	mux.HandleFunc("POST /rollback/execute", e.handleExecuteRollback)
	mux.HandleFunc("POST /rollback/restore/{id}", e.handleRestore)
	mux.HandleFunc("GET /rollback/statistics", e.handleRollbackStats)
	mux.HandleFunc("GET /events", e.handleSSE)
	mux.HandleFunc("GET /ws", e.handleWebSocket)
	mux.HandleFunc("GET /webhooks", e.handleWebhooks)
	mux.HandleFunc("POST /webhooks", e.handleCreateWebhook)
	mux.HandleFunc("DELETE /webhooks/{id}", e.handleDeleteWebhook)
	return httpapi.Mux(mux)
}

// answer answers 200 with what fn returns, or fn's error.
func answer[T any](e *Engine, w http.ResponseWriter, r *http.Request, fn func(context.Context) (T, error)) {
	v, err := fn(r.Context())
	if err != nil {
		e.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// answerBody decodes a JSON body (at most 1 MB) for fn and answers
// status with what fn returns, or fn's error.
func answerBody[B, T any](e *Engine, w http.ResponseWriter, r *http.Request, status int, fn func(context.Context, B) (T, error)) {
	var body B
	if err := httpapi.DecodeJSON(w, r, &body, 0); err != nil {
		e.fail(w, r, err)
		return
	}
	v, err := fn(r.Context(), body)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, status, v)
}

// answerPage answers a list route: fn gets the page and returns it with
// the total.
func answerPage[T any](e *Engine, w http.ResponseWriter, r *http.Request, fn func(context.Context, httpapi.Page) ([]T, int, error)) {
	page, err := httpapi.ParsePage(r)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	items, total, err := fn(r.Context(), page)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	httpapi.SetPageHeaders(w, r, page, total)
	httpapi.WriteJSON(w, http.StatusOK, items)
}

// statusParam reads ?status=, which must name a status if present.
func statusParam(r *http.Request) (Status, error) {
	s := Status(r.URL.Query().Get("status"))
	switch s {
	case "", StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusCancelled:
		return s, nil
	}
	return "", invalid("status", "must be pending, running, completed, failed or cancelled")
}

func (e *Engine) handleTasks(w http.ResponseWriter, r *http.Request) {
	answerPage(e, w, r, func(ctx context.Context, p httpapi.Page) ([]Task, int, error) {
		st, err := statusParam(r)
		if err != nil {
			return nil, 0, err
		}
		return e.Tasks(ctx, TaskFilter{BatchID: r.URL.Query().Get("batch_id"), Status: st, Limit: p.Limit, Offset: p.Offset})
	})
}

func (e *Engine) handleTask(w http.ResponseWriter, r *http.Request) {
	answer(e, w, r, func(ctx context.Context) (Task, error) { return e.Task(ctx, r.PathValue("id")) })
}

// BatchView is a batch with its operations, as the API shows it.
type BatchView struct {
	Batch
	Operations []OperationView `json:"operations"`
}

// OperationView is one operation's state in a BatchView.
type OperationView struct {
	ID           string       `json:"id"`
	TaskID       string       `json:"task_id"`
	Type         string       `json:"type"`
	Status       Status       `json:"status"`
	Progress     int          `json:"progress"`
	Attempts     int          `json:"attempts"`
	Error        string       `json:"error,omitempty"`
	Compensation Compensation `json:"compensation,omitempty"`
}

func (e *Engine) view(ctx context.Context, id string) (BatchView, error) {
	b, tasks, err := e.Batch(ctx, id)
	if err != nil {
		return BatchView{}, err
	}
	v := BatchView{Batch: b, Operations: make([]OperationView, len(tasks))}
	for i, t := range tasks {
		v.Operations[i] = OperationView{
			ID: t.Operation, TaskID: t.ID, Type: t.Type, Status: t.Status, Progress: t.Progress,
			Attempts: t.Attempts, Error: t.Error, Compensation: t.Compensation,
		}
	}
	return v, nil
}

func (e *Engine) handleSubmit(kind Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s Spec
		if err := httpapi.DecodeJSON(w, r, &s, e.cfg.MaxBodyBytes); err != nil {
			e.fail(w, r, err)
			return
		}
		if key := r.Header.Get("Idempotency-Key"); key != "" {
			if s.IdempotencyKey != "" && s.IdempotencyKey != key {
				e.fail(w, r, invalid("idempotency_key", "differs from the Idempotency-Key header"))
				return
			}
			s.IdempotencyKey = key
		}
		var submitter string
		if e.cfg.Submitter != nil {
			submitter = e.cfg.Submitter(r)
		}
		b, created, err := e.Submit(r.Context(), kind, s, submitter)
		if err != nil {
			e.fail(w, r, err)
			return
		}
		v, err := e.view(r.Context(), b.ID)
		if err != nil {
			e.fail(w, r, err)
			return
		}
		status := http.StatusCreated
		if !created {
			status = http.StatusOK
		}
		w.Header().Set("Location", "batch/operations/"+b.ID)
		httpapi.WriteJSON(w, status, v)
	}
}

func (e *Engine) handleBatches(w http.ResponseWriter, r *http.Request) {
	answerPage(e, w, r, func(ctx context.Context, p httpapi.Page) ([]Batch, int, error) {
		st, err := statusParam(r)
		if err != nil {
			return nil, 0, err
		}
		kind := Kind(r.URL.Query().Get("kind"))
		if kind != "" && kind != KindBatch && kind != KindWorkflow {
			return nil, 0, invalid("kind", "must be batch or workflow")
		}
		return e.Batches(ctx, BatchFilter{Status: st, Kind: kind, Limit: p.Limit, Offset: p.Offset})
	})
}

func (e *Engine) handleBatch(w http.ResponseWriter, r *http.Request) {
	answer(e, w, r, func(ctx context.Context) (BatchView, error) { return e.view(ctx, r.PathValue("id")) })
}

func (e *Engine) handleCancel(w http.ResponseWriter, r *http.Request) {
	if _, err := e.Cancel(r.Context(), r.PathValue("id")); err != nil {
		e.fail(w, r, err)
		return
	}
	v, err := e.view(r.Context(), r.PathValue("id"))
	if err != nil {
		e.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusAccepted, v)
}

func (e *Engine) handleProgress(w http.ResponseWriter, r *http.Request) {
	answer(e, w, r, func(ctx context.Context) (Progress, error) { return e.Progress(ctx, r.PathValue("id")) })
}

func (e *Engine) handleSnapshots(w http.ResponseWriter, r *http.Request) {
	answer(e, w, r, func(ctx context.Context) ([]Snapshot, error) { return e.Snapshots(ctx, r.PathValue("id")) })
}

func (e *Engine) handleSystemMetrics(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, e.SystemMetrics())
}

// Health is the engine's health.
type Health struct {
	Status     string `json:"status"` // healthy, or stopped
	Running    bool   `json:"running"`
	QueueDepth int    `json:"queue_depth"`
	Workers    int    `json:"workers"`
}

// Health reports whether Run is serving.
func (e *Engine) Health() Health {
	h := Health{Status: "healthy", Running: e.Running(), QueueDepth: e.q.len(), Workers: e.cfg.Workers}
	if !h.Running {
		h.Status = "stopped"
	}
	return h
}

func (e *Engine) handleHealth(w http.ResponseWriter, r *http.Request) {
	h := e.Health()
	status := http.StatusOK
	if !h.Running {
		status = http.StatusServiceUnavailable
	}
	httpapi.WriteJSON(w, status, h)
}

func (e *Engine) handleStatistics(w http.ResponseWriter, r *http.Request) {
	answer(e, w, r, e.Statistics)
}

func (e *Engine) handleCheckpoints(w http.ResponseWriter, r *http.Request) {
	answerPage(e, w, r, func(ctx context.Context, p httpapi.Page) ([]Checkpoint, int, error) {
		all, err := e.Checkpoints(ctx, r.URL.Query().Get("batch_id"))
		return httpapi.Window(all, p.Limit, p.Offset), len(all), err
	})
}

// checkpointBody is the body of POST /rollback/checkpoints.
type checkpointBody struct {
	BatchID string `json:"batch_id"`
	Name    string `json:"name"`
}

func (e *Engine) handleCreateCheckpoint(w http.ResponseWriter, r *http.Request) {
	answerBody(e, w, r, http.StatusCreated, func(ctx context.Context, b checkpointBody) (Checkpoint, error) {
		return e.CreateCheckpoint(ctx, b.BatchID, b.Name)
	})
}

func (e *Engine) handleCheckpoint(w http.ResponseWriter, r *http.Request) {
	answer(e, w, r, func(ctx context.Context) (Checkpoint, error) { return e.Checkpoint(ctx, r.PathValue("id")) })
}

func (e *Engine) handleExecuteRollback(w http.ResponseWriter, r *http.Request) {
	answerBody(e, w, r, http.StatusOK, e.ExecuteRollback)
}

// restoreResult is the answer of POST /rollback/restore/{id}.
type restoreResult struct {
	Rollback Rollback  `json:"rollback"`
	Batch    BatchView `json:"batch"`
}

func (e *Engine) handleRestore(w http.ResponseWriter, r *http.Request) {
	answer(e, w, r, func(ctx context.Context) (restoreResult, error) {
		rb, b, err := e.Restore(ctx, r.PathValue("id"))
		if err != nil {
			return restoreResult{}, err
		}
		v, err := e.view(ctx, b.ID)
		return restoreResult{rb, v}, err
	})
}

func (e *Engine) handleRollbackStats(w http.ResponseWriter, r *http.Request) {
	answer(e, w, r, e.RollbackStats)
}

func (e *Engine) handleWebhooks(w http.ResponseWriter, r *http.Request) {
	answerPage(e, w, r, func(ctx context.Context, p httpapi.Page) ([]Webhook, int, error) {
		all, err := e.Webhooks(ctx)
		return httpapi.Window(all, p.Limit, p.Offset), len(all), err
	})
}

// webhookBody is the body of POST /webhooks.
type webhookBody struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
}

func (e *Engine) handleCreateWebhook(w http.ResponseWriter, r *http.Request) {
	answerBody(e, w, r, http.StatusCreated, func(ctx context.Context, b webhookBody) (Webhook, error) {
		return e.CreateWebhook(ctx, b.URL, b.Events, b.Secret)
	})
}

func (e *Engine) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := e.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		e.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
