package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitBatch polls a batch until it has finished.
func waitBatch(t *testing.T, s *server, token, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := s.do("GET", "/orchestrator/batch/operations/"+id, token, "")
		require.Equal(t, http.StatusOK, r.status, r.body)
		var b map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.body), &b))
		switch b["status"] {
		case "completed", "failed", "cancelled":
			return b
		}
		require.True(t, time.Now().Before(deadline), "batch %s did not finish: %s", id, r.body)
		time.Sleep(10 * time.Millisecond) // polling a real server over HTTP; there is no clock to inject
	}
}

func TestOrchestrator(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
	defer target.Close()
	s := startServer(t, t.TempDir(), map[string]string{
		"PORTICO_ADMIN_PASSWORD":  "correct-horse-battery",
		"PORTICO_MODULE_UPSTREAM": "off",
		"PORTICO_RATE_GENERAL":    "0",
		"PORTICO_TASK_HTTP_ALLOW": target.URL + "/ok/",
	})
	admin := s.login("admin", "correct-horse-battery")

	// Who may: no credentials 401, a plain user 403.
	r := s.do("POST", "/auth/clients/create", admin, `{"client_id":"alice","password":"alice-password","roles":[]}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	alice := s.login("alice", "alice-password")
	for _, rt := range []struct{ method, path string }{
		{"GET", "/orchestrator/tasks"}, {"POST", "/orchestrator/batch/execute"}, {"POST", "/orchestrator/rollback/execute"},
		{"GET", "/orchestrator/webhooks"}, {"GET", "/orchestrator/events"}, {"GET", "/metrics"},
	} {
		assert.Equal(t, http.StatusUnauthorized, s.do(rt.method, rt.path, "", "").status, rt)
		assert.Equal(t, http.StatusUnauthorized, s.do(rt.method, rt.path, "not-a-token", "").status, rt)
		assert.Equal(t, http.StatusForbidden, s.do(rt.method, rt.path, alice, "").status, rt)
	}

	// The contract's batch shape, with the demo types.
	r = s.do("POST", "/orchestrator/batch/execute", admin, `{"name":"demo","parallel_limit":2,"rollback_enabled":true,"operations":[
		{"id":"hello","type":"echo","args":{"message":"hi"},"dependencies":[]},
		{"id":"nap","type":"sleep","args":{"ms":20},"dependencies":["hello"]},
		{"id":"fetch","type":"http","args":{"url":"`+target.URL+`/ok/page"},"dependencies":["hello"]},
		{"id":"boom","type":"fail","args":{"message":"on purpose"},"dependencies":["nap","fetch"]}]}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	var created struct {
		BatchID    string `json:"batch_id"`
		Status     string `json:"status"`
		Operations []struct {
			ID       string `json:"id"`
			Status   string `json:"status"`
			Progress *int   `json:"progress"`
		} `json:"operations"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &created))
	require.Len(t, created.Operations, 4)
	assert.Equal(t, "hello", created.Operations[0].ID)
	assert.NotNil(t, created.Operations[0].Progress)
	b := waitBatch(t, s, admin, created.BatchID)
	assert.Equal(t, "failed", b["status"])
	assert.Equal(t, "operation boom failed: on purpose", b["error"])
	require.NotEmpty(t, b["rollback_id"], "rolled back")
	ops := b["operations"].([]any)
	assert.Equal(t, "compensated", ops[0].(map[string]any)["compensation"], "echo is compensable")
	assert.Equal(t, "not_compensated", ops[2].(map[string]any)["compensation"], "http has nothing to undo")

	task := s.do("GET", "/orchestrator/tasks/"+created.BatchID+".2", admin, "")
	require.Equal(t, http.StatusOK, task.status)
	assert.Contains(t, task.body, `"output":{"bytes":5,"status":200}`)

	// The demo types refuse what they must not do, before anything runs.
	for _, body := range []string{
		`{"operations":[{"id":"x","type":"http","args":{"url":"` + target.URL + `/secret"}}]}`,
		`{"operations":[{"id":"x","type":"http","args":{"url":"file:///etc/passwd"}}]}`,
		`{"operations":[{"id":"x","type":"sleep","args":{"ms":-1}}]}`,
		`{"operations":[{"id":"x","type":"echo","args":{"message":"hi","cmd":"sh"}}]}`,
		`{"operations":[{"id":"x","type":"exec","args":{"cmd":"sh"}}]}`,
	} {
		r := s.do("POST", "/orchestrator/workflows", admin, body)
		assert.Equal(t, http.StatusBadRequest, r.status, body)
	}
	r = s.do("POST", "/orchestrator/webhooks", admin, `{"url":"http://127.0.0.1:1/hook","events":["*"]}`)
	assert.Equal(t, http.StatusBadRequest, r.status, "private targets need -webhook-allow-private")

	r = s.do("GET", "/metrics", admin, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, `portico_orchestrator_tasks_total{status="completed"} 3`)
	assert.Contains(t, r.body, `portico_orchestrator_task_duration_seconds_bucket{type="sleep"`)
	assert.Contains(t, r.body, "portico_orchestrator_queue_depth 0")
	assert.Contains(t, r.body, "go_goroutines")

	h := s.do("GET", "/health", "", "")
	assert.Contains(t, h.body, `"orchestrator":"ok"`)

	// Events through the whole middleware stack: SSE flushes through the
	// response wrappers, WebSocket hijacks through them.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/orchestrator/events", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Last-Event-ID", "1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		if strings.HasPrefix(line, "id: ") {
			assert.Equal(t, "id: 2\n", line, "resumes after Last-Event-ID")
			break
		}
	}

	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.base, "http")+"/orchestrator/ws?since=2", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + admin}},
	})
	require.NoError(t, err)
	defer c.CloseNow()
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	var ev struct{ Seq int }
	require.NoError(t, json.Unmarshal(msg, &ev))
	assert.Equal(t, 3, ev.Seq)
}
