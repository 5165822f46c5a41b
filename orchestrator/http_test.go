package orchestrator_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/orchestrator"
)

type api struct {
	t   *testing.T
	e   *engine
	srv *httptest.Server
}

func newAPI(t *testing.T, cfg orchestrator.Config) *api {
	if cfg.Types == nil {
		cfg.Types = types(&recorder{})
	}
	e := startEngine(t, cfg)
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	return &api{t, e, srv}
}

func (a *api) do(method, path, body string, header ...string) (*http.Response, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	require.NoError(a.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return resp, b
}

func (a *api) expect(status int, method, path, body string, header ...string) []byte {
	a.t.Helper()
	resp, b := a.do(method, path, body, header...)
	require.Equal(a.t, status, resp.StatusCode, "%s %s: %s", method, path, b)
	return b
}

func jsonOf[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return v
}

func TestHTTPSubmitAndInspect(t *testing.T) {
	a := newAPI(t, orchestrator.Config{})
	body := `{"name":"deploy","parallel_limit":2,"rollback_enabled":false,"operations":[
		{"id":"a","type":"ok","args":{"x":1},"dependencies":[]},
		{"id":"b","type":"ok","dependencies":["a"]}]}`
	b := a.expect(http.StatusCreated, "POST", "/batch/execute", body, "Idempotency-Key", "k1")
	v := jsonOf[map[string]any](t, b)
	id := v["batch_id"].(string)
	assert.NotEmpty(t, id)
	assert.Equal(t, "batch", v["kind"])
	assert.Contains(t, []any{"running", "completed"}, v["status"])
	ops := v["operations"].([]any)
	require.Len(t, ops, 2)
	for _, f := range []string{"id", "status", "progress"} {
		assert.Contains(t, ops[0], f)
	}
	_, err := a.e.Wait(context.Background(), id)
	require.NoError(t, err)

	again := jsonOf[orchestrator.BatchView](t, a.expect(http.StatusOK, "POST", "/batch/execute", body, "Idempotency-Key", "k1"))
	assert.Equal(t, id, again.ID, "a repeated key answers the first batch")
	a.expect(http.StatusConflict, "POST", "/batch/execute", strings.Replace(body, `"deploy"`, `"other"`, 1), "Idempotency-Key", "k1")
	a.expect(http.StatusBadRequest, "POST", "/batch/execute", strings.Replace(body, `"name"`, `"idempotency_key":"k2","name"`, 1), "Idempotency-Key", "k3")

	view := jsonOf[orchestrator.BatchView](t, a.expect(http.StatusOK, "GET", "/batch/operations/"+id, ""))
	assert.Equal(t, orchestrator.StatusCompleted, view.Status)
	assert.Equal(t, "a", view.Operations[0].ID)
	assert.Equal(t, 100, view.Operations[1].Progress)

	task := jsonOf[orchestrator.Task](t, a.expect(http.StatusOK, "GET", "/tasks/"+view.Operations[0].TaskID, ""))
	assert.JSONEq(t, `{"x":1}`, string(task.Args))
	assert.JSONEq(t, `{"ok":"yes"}`, string(task.Output))

	wf := jsonOf[orchestrator.BatchView](t, a.expect(http.StatusCreated, "POST", "/workflows", `{"name":"wf","operations":[{"id":"x","type":"ok"}]}`))
	assert.Equal(t, orchestrator.KindWorkflow, wf.Kind)
	a.e.wait(t, wf.ID)

	resp, b := a.do("GET", "/batch/operations?limit=1", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("X-Total-Count"))
	assert.Contains(t, resp.Header.Get("Link"), `offset=1`)
	assert.Equal(t, wf.ID, jsonOf[[]orchestrator.Batch](t, b)[0].ID, "newest first")
	assert.Len(t, jsonOf[[]orchestrator.Batch](t, a.expect(http.StatusOK, "GET", "/batch/operations?kind=workflow", "")), 1)

	resp, b = a.do("GET", "/tasks?batch_id="+id+"&status=completed", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("X-Total-Count"))
	assert.Len(t, jsonOf[[]orchestrator.Task](t, b), 2)

	prog := jsonOf[orchestrator.Progress](t, a.expect(http.StatusOK, "GET", "/state/workflows/"+id+"/progress", ""))
	assert.Equal(t, 100, prog.Percent)
	assert.Equal(t, 2, prog.CompletedSteps)
	assert.Nil(t, prog.ETASeconds)
	snaps := jsonOf[[]orchestrator.Snapshot](t, a.expect(http.StatusOK, "GET", "/state/workflows/"+id+"/snapshots", ""))
	assert.Equal(t, "batch: running -> completed", snaps[len(snaps)-1].Transition)

	stats := jsonOf[orchestrator.Statistics](t, a.expect(http.StatusOK, "GET", "/state/statistics", ""))
	assert.Equal(t, 2, stats.Batches.Completed)
	assert.Equal(t, 3, stats.Tasks.Completed)
	m := jsonOf[orchestrator.SystemMetrics](t, a.expect(http.StatusOK, "GET", "/state/system/metrics", ""))
	assert.Equal(t, 3, m.TasksFinished.Completed)
	assert.Equal(t, orchestrator.DefaultWorkers, m.Workers)
	assert.Equal(t, "healthy", jsonOf[orchestrator.Health](t, a.expect(http.StatusOK, "GET", "/state/system/health", "")).Status)

	a.expect(http.StatusConflict, "POST", "/batch/operations/"+id+"/cancel", "")
	a.e.stop()
	a.expect(http.StatusServiceUnavailable, "GET", "/state/system/health", "")
	a.expect(http.StatusServiceUnavailable, "POST", "/workflows", `{"operations":[{"id":"x","type":"ok"}]}`)
}

func TestHTTPBadInput(t *testing.T) {
	a := newAPI(t, orchestrator.Config{MaxOperations: 3, MaxBodyBytes: 4096})
	many := `{"operations":[{"id":"a","type":"ok"},{"id":"b","type":"ok"},{"id":"c","type":"ok"},{"id":"d","type":"ok"}]}`
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"malformed", "POST", "/batch/execute", `{"operations":[`, 400, "invalid_json", ""},
		{"not an object", "POST", "/workflows", `[]`, 400, "invalid_json", ""},
		{"unknown field", "POST", "/batch/execute", `{"operations":[],"extra":1}`, 400, "unknown_field", ""},
		{"wrong type", "POST", "/batch/execute", `{"parallel_limit":"2","operations":[]}`, 400, "invalid_field", ""},
		{"oversized", "POST", "/batch/execute", `{"name":"` + strings.Repeat("x", 5000) + `","operations":[]}`, 413, "body_too_large", ""},
		{"empty", "POST", "/batch/execute", `{"operations":[]}`, 400, "invalid_field", "operations must not be empty"},
		{"huge", "POST", "/batch/execute", many, 400, "invalid_field", "operations has 4 operations; at most 3 are allowed"},
		{"cycle", "POST", "/workflows", `{"operations":[{"id":"a","type":"ok","dependencies":["b"]},{"id":"b","type":"ok","dependencies":["a"]}]}`, 400, "invalid_field", "operations have a dependency cycle: a -> b -> a"},
		{"unknown type", "POST", "/workflows", `{"operations":[{"id":"a","type":"shell","args":{"cmd":"rm -rf /"}}]}`, 400, "invalid_field", `operations[0].type "shell" is not a registered task type`},
		{"unknown dependency", "POST", "/workflows", `{"operations":[{"id":"a","type":"ok","dependencies":["z"]}]}`, 400, "invalid_field", `operations[0].dependencies names "z"`},
		{"duplicate id", "POST", "/workflows", `{"operations":[{"id":"a","type":"ok"},{"id":"a","type":"ok"}]}`, 400, "invalid_field", `operations[1].id "a" is also operations[0].id`},
		{"bad status filter", "GET", "/tasks?status=done", "", 400, "invalid_field", "status must be"},
		{"bad kind filter", "GET", "/batch/operations?kind=job", "", 400, "invalid_field", "kind must be"},
		{"bad limit", "GET", "/tasks?limit=0", "", 400, "invalid_parameter", ""},
		{"bad since", "GET", "/events?since=x", "", 400, "invalid_field", "since must be"},
		{"bad types", "GET", "/events?types=Bad!", "", 400, "invalid_field", "types must"},
		{"unknown task", "GET", "/tasks/nope", "", 404, "not_found", ""},
		{"unknown batch", "GET", "/batch/operations/nope", "", 404, "not_found", ""},
		{"cancel unknown", "POST", "/batch/operations/nope/cancel", "", 404, "not_found", ""},
		{"progress unknown", "GET", "/state/workflows/nope/progress", "", 404, "not_found", ""},
		{"snapshots unknown", "GET", "/state/workflows/nope/snapshots", "", 404, "not_found", ""},
		{"checkpoint unknown", "GET", "/rollback/checkpoints/nope", "", 404, "not_found", ""},
		{"checkpoint of unknown batch", "POST", "/rollback/checkpoints", `{"batch_id":"nope","name":"x"}`, 404, "not_found", ""},
		{"checkpoint without name", "POST", "/rollback/checkpoints", `{"batch_id":"nope"}`, 400, "invalid_field", "name must be"},
		{"checkpoint malformed", "POST", "/rollback/checkpoints", `{`, 400, "invalid_json", ""},
		{"restore unknown", "POST", "/rollback/restore/nope", "", 404, "not_found", ""},
		{"rollback of nothing", "POST", "/rollback/execute", `{"batch_id":"x"}`, 400, "invalid_field", "checkpoint_id or operations is required"},
		{"rollback of unknown batch", "POST", "/rollback/execute", `{"batch_id":"x","operations":["a"]}`, 404, "not_found", ""},
		{"rollback malformed", "POST", "/rollback/execute", `{"operations":"a"}`, 400, "invalid_field", ""},
		{"webhook private", "POST", "/webhooks", `{"url":"http://127.0.0.1:9/x","events":["*"]}`, 400, "private_target", ""},
		{"webhook bad url", "POST", "/webhooks", `{"url":"gopher://x"}`, 400, "invalid_field", "url must be"},
		{"webhook malformed", "POST", "/webhooks", `{"url":`, 400, "invalid_json", ""},
		{"webhook unknown", "DELETE", "/webhooks/nope", "", 404, "not_found", ""},
		{"wrong method", "DELETE", "/tasks", "", 405, "method_not_allowed", ""},
		{"no route", "GET", "/nope", "", 404, "not_found", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := a.do(tt.method, tt.path, tt.body)
			require.Equal(t, tt.status, resp.StatusCode, string(b))
			e := jsonOf[map[string]string](t, b)
			assert.Equal(t, tt.code, e["code"])
			assert.Contains(t, e["error"], tt.msg)
		})
	}
	resp, _ := a.do("GET", "/batch/operations", "")
	assert.Equal(t, "0", resp.Header.Get("X-Total-Count"), "nothing invalid was stored")
}

func TestHTTPRollbackAndWebhooks(t *testing.T) {
	rec := &recorder{}
	a := newAPI(t, orchestrator.Config{Types: types(rec)})
	v := jsonOf[orchestrator.BatchView](t, a.expect(http.StatusCreated, "POST", "/workflows",
		`{"parallel_limit":1,"operations":[{"id":"a","type":"ok"},{"id":"b","type":"ok","dependencies":["a"]},{"id":"c","type":"ok","dependencies":["b"]}]}`))
	a.e.wait(t, v.ID)
	cp := jsonOf[orchestrator.Checkpoint](t, a.expect(http.StatusCreated, "POST", "/rollback/checkpoints", `{"batch_id":"`+v.ID+`","name":"all"}`))
	assert.Equal(t, []string{"a", "b", "c"}, cp.Completed)
	assert.Equal(t, cp, jsonOf[orchestrator.Checkpoint](t, a.expect(http.StatusOK, "GET", "/rollback/checkpoints/"+cp.ID, "")))
	assert.Len(t, jsonOf[[]orchestrator.Checkpoint](t, a.expect(http.StatusOK, "GET", "/rollback/checkpoints?batch_id="+v.ID, "")), 1)

	rb := jsonOf[orchestrator.Rollback](t, a.expect(http.StatusOK, "POST", "/rollback/execute", `{"batch_id":"`+v.ID+`","operations":["a","c"]}`))
	assert.Equal(t, orchestrator.StatusCompleted, rb.Status)
	assert.Equal(t, []orchestrator.RollbackStep{{Operation: "c", Result: "compensated"}, {Operation: "a", Result: "compensated"}}, rb.Steps)
	a.expect(http.StatusBadRequest, "POST", "/rollback/execute", `{"batch_id":"`+v.ID+`","operations":["a"]}`)

	res := jsonOf[struct {
		Rollback orchestrator.Rollback  `json:"rollback"`
		Batch    orchestrator.BatchView `json:"batch"`
	}](t, a.expect(http.StatusOK, "POST", "/rollback/restore/"+cp.ID, ""))
	assert.Empty(t, res.Rollback.Steps)
	assert.Equal(t, v.ID, res.Batch.ID)
	b, _ := a.e.wait(t, v.ID)
	assert.Equal(t, orchestrator.StatusCompleted, b.Status)
	started, _, _ := rec.snapshot()
	assert.Equal(t, []string{"a", "b", "c", "a", "c"}, started, "a restore runs the compensated operations again")

	st := jsonOf[orchestrator.RollbackStats](t, a.expect(http.StatusOK, "GET", "/rollback/statistics", ""))
	assert.Equal(t, 2, st.Total)
	assert.InDelta(t, 1.0, st.SuccessRate, 1e-9)

	hook := jsonOf[orchestrator.Webhook](t, a.expect(http.StatusCreated, "POST", "/webhooks", `{"url":"https://hooks.example.com/in","events":["batch.*"]}`))
	assert.True(t, strings.HasPrefix(hook.Secret, "whsec_"))
	list := a.expect(http.StatusOK, "GET", "/webhooks", "")
	assert.NotContains(t, string(list), hook.Secret)
	assert.Len(t, jsonOf[[]orchestrator.Webhook](t, list), 1)
	a.expect(http.StatusNoContent, "DELETE", "/webhooks/"+hook.ID, "")
	a.expect(http.StatusNotFound, "DELETE", "/webhooks/"+hook.ID, "")
}

// sseEvent is one event of a Server-Sent Events stream.
type sseEvent struct {
	id, event, data string
}

// readSSE reads n events from a stream.
func readSSE(t *testing.T, r *bufio.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if cur.id != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	return out
}

func TestSSEResumesFromLastEventID(t *testing.T) {
	a := newAPI(t, orchestrator.Config{})
	a.e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok"), op("b", "ok", "a")}}) // events 1-6

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.srv.URL+"/events", nil)
	req.Header.Set("Last-Event-ID", "2")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	r := bufio.NewReader(resp.Body)
	evs := readSSE(t, r, 4)
	for i, ev := range evs {
		assert.Equal(t, strconv.Itoa(3+i), ev.id)
		env := jsonOf[orchestrator.Event](t, []byte(ev.data))
		assert.Equal(t, ev.event, env.Type)
		assert.Equal(t, uint64(3+i), env.Seq)
	}
	assert.Equal(t, "batch.completed", evs[3].event)

	// Live events arrive on the same stream.
	a.e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{op("x", "ok")}})
	live := readSSE(t, r, 4)
	assert.Equal(t, "7", live[0].id)
	assert.Equal(t, "batch.submitted", live[0].event)

	// ?types= filters, ?since= works without the header.
	req, _ = http.NewRequestWithContext(ctx, "GET", a.srv.URL+"/events?since=0&types=batch.*", nil)
	resp2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp2.Body.Close()
	got := readSSE(t, bufio.NewReader(resp2.Body), 4)
	assert.Equal(t, []string{"1", "6", "7", "10"}, []string{got[0].id, got[1].id, got[2].id, got[3].id})
}

func TestWebSocketResumesFromSince(t *testing.T) {
	a := newAPI(t, orchestrator.Config{})
	a.e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok")}}) // events 1-4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/ws?since=1", nil)
	require.NoError(t, err)
	defer c.CloseNow()
	read := func() orchestrator.Event {
		typ, b, err := c.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, websocket.MessageText, typ)
		return jsonOf[orchestrator.Event](t, b)
	}
	for want := uint64(2); want <= 4; want++ {
		assert.Equal(t, want, read().Seq)
	}
	a.e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{op("b", "ok")}})
	ev := read()
	assert.Equal(t, uint64(5), ev.Seq)
	assert.Equal(t, orchestrator.EventBatchSubmitted, ev.Type)
	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))

	// A page on another origin may not open the socket.
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {"https://evil.example"}},
	})
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	_, resp, err = websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/ws?since=-1", nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
