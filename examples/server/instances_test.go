package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/internal/dbtest"
)

// Two example servers on one PostgreSQL database behave as one platform:
// what one revokes, disables or changes, the other enforces on its next
// request, and each orchestrator batch runs on exactly one of them.
func TestTwoInstancesShareOnePlatform(t *testing.T) {
	dbURL := dbtest.PostgresURL(t)
	var mu sync.Mutex
	hits := map[string]int{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
	}))
	defer target.Close()
	env := map[string]string{
		"PORTICO_ADMIN_PASSWORD":  "correct-horse-battery",
		"PORTICO_MODULE_UPSTREAM": "off",
		"PORTICO_RATE_GENERAL":    "0",
		"PORTICO_RATE_AUTH":       "0",
		"PORTICO_TASK_HTTP_ALLOW": target.URL + "/",
		"PORTICO_DB":              dbURL,
	}
	data := t.TempDir() // one signing key for both, as a deployment shares it
	a := startServer(t, data, env, "-nats-addr", "off")
	b := startServer(t, data, env, "-nats-addr", "off")
	admin := a.login("admin", "correct-horse-battery")
	require.Equal(t, http.StatusOK, b.do("GET", "/auth", admin, "").status, "a token issued by one is valid on the other")
	assert.Contains(t, b.do("GET", "/info", "", "").body, "postgres")

	t.Run("revocation", func(t *testing.T) {
		tok := a.login("admin", "correct-horse-battery")
		require.Equal(t, http.StatusOK, b.do("GET", "/auth", tok, "").status, "b has verified (and cached) it")
		require.Equal(t, http.StatusOK, b.do("GET", "/auth", tok, "").status)
		require.Equal(t, http.StatusNoContent, a.do("DELETE", "/auth", tok, "").status, "logout on a")
		assert.Equal(t, http.StatusUnauthorized, b.do("GET", "/auth", tok, "").status, "b refuses it on the next request")
	})

	t.Run("client disabled", func(t *testing.T) {
		r := a.do("POST", "/auth/clients/create", admin, `{"client_id":"dana","password":"dana-password","roles":[]}`)
		require.Equal(t, http.StatusCreated, r.status, r.body)
		dana := b.login("dana", "dana-password")
		require.Equal(t, http.StatusOK, b.do("GET", "/auth", dana, "").status)
		r = b.do("POST", "/keys", dana, `{"name":"dana-key"}`)
		require.Equal(t, http.StatusCreated, r.status, r.body)
		key := field(t, r.body, "token")
		require.Equal(t, http.StatusOK, b.doKey("/apikey", key).status, "the key works on b")
		r = a.do("POST", "/auth/clients/dana", admin, `{"enabled":false}`)
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Equal(t, http.StatusUnauthorized, b.do("GET", "/auth", dana, "").status, "b refuses the disabled client's token")
		assert.Equal(t, http.StatusForbidden, b.doKey("/apikey", key).status, "and its API key (valid, but its owner is disabled)")
		r = b.do("POST", "/auth/login", "", `{"username":"dana","password":"dana-password"}`)
		assert.NotEqual(t, http.StatusOK, r.status, "and its login")
	})

	t.Run("key revoked", func(t *testing.T) {
		r := a.do("POST", "/keys", admin, `{"name":"shared"}`)
		require.Equal(t, http.StatusCreated, r.status, r.body)
		key, id := field(t, r.body, "token"), field(t, r.body, "id")
		require.Equal(t, http.StatusOK, b.doKey("/apikey", key).status)
		require.Equal(t, http.StatusOK, a.do("POST", "/key/"+id+"/revoke", admin, "").status)
		assert.Equal(t, http.StatusUnauthorized, b.doKey("/apikey", key).status, "b refuses the revoked key")
	})

	t.Run("role change", func(t *testing.T) {
		r := a.do("POST", "/admin/roles", admin, `{"name":"viewer","permissions":{"allow":["auth.self"]}}`)
		require.Equal(t, http.StatusCreated, r.status, r.body)
		r = a.do("POST", "/auth/clients/create", admin, `{"client_id":"eric","password":"eric-password","roles":["viewer"],"groups":["ops"]}`)
		require.Equal(t, http.StatusCreated, r.status, r.body)
		eric := a.login("eric", "eric-password")
		require.Equal(t, http.StatusForbidden, b.do("GET", "/keys", eric, "").status, "viewer may not list keys")
		r = a.do("PUT", "/admin/role/viewer", admin, `{"name":"viewer","permissions":{"allow":["auth.self","keys.read"]}}`)
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Equal(t, http.StatusOK, b.do("GET", "/keys", eric, "").status, "b applies the changed role at once")
		r = a.do("POST", "/admin/roles", admin, `{"name":"auditor","permissions":{"allow":["audit.read"]}}`)
		require.Equal(t, http.StatusCreated, r.status, r.body)
		require.Equal(t, http.StatusForbidden, b.do("GET", "/admin/audit", eric, "").status)
		r = a.do("POST", "/admin/assignments", admin, `{"group":"ops","roles":["auditor"]}`)
		require.Contains(t, []int{http.StatusOK, http.StatusCreated}, r.status, r.body)
		assert.Equal(t, http.StatusOK, b.do("GET", "/admin/audit", eric, "").status, "and the new group assignment")
	})

	t.Run("orchestrator work is claimed once", func(t *testing.T) {
		var wg sync.WaitGroup
		ids := make([]string, 16)
		for i := range ids {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				r := s.do("POST", "/orchestrator/batch/execute", admin, fmt.Sprintf(`{"operations":[
					{"id":"one","type":"http","args":{"url":"%[1]s/b%[2]d/one"}},
					{"id":"two","type":"http","args":{"url":"%[1]s/b%[2]d/two"},"dependencies":["one"]}]}`, target.URL, i))
				if assert.Equal(t, http.StatusCreated, r.status, r.body) {
					ids[i] = field(t, r.body, "batch_id")
				}
			})
		}
		wg.Wait()
		for i, id := range ids {
			other := b // read through the instance that did not submit it
			if i%2 == 1 {
				other = a
			}
			got := waitBatch(t, other, admin, id)
			assert.Equal(t, "completed", got["status"], "batch %d", i)
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range ids {
			for _, op := range []string{"one", "two"} {
				assert.Equal(t, 1, hits[fmt.Sprintf("/b%d/%s", i, op)], "batch %d's %s ran exactly once", i, op)
			}
		}
		// The event log is one log: each batch's events are in it once.
		r := b.do("GET", "/orchestrator/batch/operations", admin, "")
		require.Equal(t, http.StatusOK, r.status, r.body)
		var list []map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.body), &list))
		assert.GreaterOrEqual(t, len(list), len(ids), "either instance lists every batch")
	})
}

// doKey calls path with an API key.
func (s *server) doKey(path, key string) response {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.base+path, nil)
	require.NoError(s.t, err)
	req.Header.Set("apiKey", key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	return response{status: resp.StatusCode, header: resp.Header}
}

// On PostgreSQL the instances share the rate limiter's buckets by default,
// so a client gets the limit once across them; -rate-store=memory gives
// each instance buckets of its own.
func TestTwoInstancesShareOneRateLimit(t *testing.T) {
	dbURL := dbtest.PostgresURL(t)
	env := map[string]string{
		"PORTICO_ADMIN_PASSWORD":  "correct-horse-battery",
		"PORTICO_MODULE_UPSTREAM": "off",
		"PORTICO_RATE_AUTH":       "4",
		"PORTICO_DB":              dbURL,
	}
	data := t.TempDir()
	// A failed login answers 401 until the limit answers 429.
	attempt := func(s *server) response {
		return s.do("POST", "/auth/login", "", `{"username":"mallory","password":"guess-number-n"}`)
	}

	a := startServer(t, data, env, "-nats-addr", "off")
	b := startServer(t, data, env, "-nats-addr", "off")
	for i, s := range []*server{a, b, a, b} {
		r := attempt(s)
		require.Equal(t, http.StatusUnauthorized, r.status, "attempt %d", i+1)
		assert.Equal(t, fmt.Sprint(3-i), r.header.Get("X-RateLimit-Remaining"), "attempt %d counts against one bucket", i+1)
	}
	assert.Equal(t, http.StatusTooManyRequests, attempt(a).status, "the fifth attempt is over the limit on a")
	assert.Equal(t, http.StatusTooManyRequests, attempt(b).status, "and on b")

	env["PORTICO_RATE_STORE"] = "memory"
	c := startServer(t, data, env, "-nats-addr", "off")
	d := startServer(t, data, env, "-nats-addr", "off")
	for i := range 4 {
		require.Equal(t, http.StatusUnauthorized, attempt(c).status, "attempt %d on c", i+1)
	}
	assert.Equal(t, http.StatusTooManyRequests, attempt(c).status, "c's own bucket is empty")
	assert.Equal(t, http.StatusUnauthorized, attempt(d).status, "d's bucket is its own")
}
