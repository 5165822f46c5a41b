package extension_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/extension"
)

// seen is what an upstream received.
type seen struct {
	Method, Path, RawPath, Query, Host, Body string
	Header                                   http.Header
}

// echo is an upstream that answers with what it received.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Set-Cookie", "session=evil")
		w.Header().Set("X-Upstream", "yes")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, string(body), r.Header})
	})
}

type proxyHarness struct {
	*harness
	front *httptest.Server
}

func newProxyHarness(t *testing.T, mutate ...func(*extension.Config)) *proxyHarness {
	h := newHarness(t, append([]func(*extension.Config){func(c *extension.Config) {
		c.Identity = func(_ context.Context, p auth.Principal, audience string) (string, time.Time, error) {
			return "assertion:" + p.Subject + ":" + audience, c.Now().Add(time.Minute), nil
		}
		c.ClientIP = func(*http.Request) string { return "198.51.100.7" }
	}}, mutate...)...)
	front := httptest.NewServer(h.h)
	t.Cleanup(front.Close)
	return &proxyHarness{harness: h, front: front}
}

func (p *proxyHarness) send(t *testing.T, method, path, caller string, body io.Reader, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, p.front.URL+path, body)
	require.NoError(t, err)
	if caller != "" {
		req.Header.Set("Authorization", "Bearer "+caller)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func readSeen(t *testing.T, resp *http.Response) seen {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var s seen
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return s
}

func TestProxyForwards(t *testing.T) {
	upstream := httptest.NewServer(echo())
	defer upstream.Close()
	p := newProxyHarness(t)
	p.register("admin", "billing", upstream.URL+"/base/")

	resp := p.send(t, "POST", "/extension/billing/invoices/42?expand=lines&x=%2F", "alice", strings.NewReader(`{"n":1}`),
		"Content-Type", "application/json",
		"Cookie", "platform_session=secret",
		"apiKey", "portico_secret",
		"X-Api-Key", "portico_secret",
		extension.IdentityHeader, "forged",
		"Connection", "X-Hop",
		"X-Hop", "hop-by-hop",
		"X-Forwarded-For", "203.0.113.9",
		"X-Custom", "kept")
	s := readSeen(t, resp)
	assert.Equal(t, "POST", s.Method)
	assert.Equal(t, "/base/invoices/42", s.Path, "joined under the base path")
	assert.Equal(t, "expand=lines&x=%2F", s.Query, "query passed as sent")
	assert.Equal(t, strings.TrimPrefix(upstream.URL, "http://"), s.Host)
	assert.Equal(t, `{"n":1}`, s.Body)
	for _, h := range []string{"Authorization", "Cookie", "Apikey", "X-Api-Key", "X-Hop"} {
		assert.Empty(t, s.Header.Get(h), "%s is stripped", h)
	}
	assert.Equal(t, []string{"assertion:alice:billing"}, s.Header.Values(extension.IdentityHeader), "the platform's assertion, not the forged one")
	assert.Equal(t, "198.51.100.7", s.Header.Get("X-Forwarded-For"), "the address the platform resolved, not the caller's claim")
	assert.Equal(t, "kept", s.Header.Get("X-Custom"))
	assert.NotEmpty(t, s.Header.Get("X-Forwarded-Host"))
	assert.Equal(t, "yes", resp.Header.Get("X-Upstream"))
	assert.Empty(t, resp.Header.Values("Set-Cookie"), "extensions set no cookies on the platform's origin")

	// The bare prefix reaches the base path itself; API keys are callers too.
	s = readSeen(t, p.send(t, "GET", "/extension/billing/", "billing-key", nil))
	assert.Equal(t, "/base/", s.Path)
	assert.Equal(t, "assertion:svc:billing", s.Header.Get(extension.IdentityHeader))
}

func TestProxyPassesUpstreamAnswers(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/boom":
			http.Error(w, "upstream broke", http.StatusInternalServerError)
		case "/redirect":
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer upstream.Close()
	p := newProxyHarness(t)
	p.register("admin", "billing", upstream.URL)

	resp := p.send(t, "GET", "/extension/billing/boom", "alice", nil)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "5xx passes through")
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "upstream broke\n", string(body))
	resp = p.send(t, "GET", "/extension/billing/redirect", "alice", nil)
	assert.Equal(t, http.StatusFound, resp.StatusCode, "redirects go back to the caller, never followed")
	assert.Equal(t, http.StatusTeapot, p.send(t, "DELETE", "/extension/billing/x", "alice", nil).StatusCode)
}

func TestProxyFailures(t *testing.T) {
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)

	p := newProxyHarness(t)
	p.register("admin", "down", refused)
	p.register("admin", "slow", slow.URL, `,"timeout_ms":100`)

	for _, tt := range []struct {
		path   string
		status int
		code   string
	}{
		{"/extension/down/x", http.StatusBadGateway, "upstream_unavailable"},
		{"/extension/slow/x", http.StatusGatewayTimeout, "upstream_timeout"},
		{"/extension/unknown/x", http.StatusNotFound, "not_found"},
	} {
		resp := p.send(t, "GET", tt.path, "alice", nil)
		assert.Equal(t, tt.status, resp.StatusCode, tt.path)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), tt.path)
		var b struct{ Error, Code string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&b), tt.path)
		assert.Equal(t, tt.code, b.Code, tt.path)
		assert.NotContains(t, b.Error, "127.0.0.1", "%s: no internals", tt.path)
	}
	assert.Equal(t, http.StatusUnauthorized, p.send(t, "GET", "/extension/down/x", "", nil).StatusCode)
	assert.Equal(t, http.StatusUnauthorized, p.send(t, "GET", "/extension/down/x", "forged-token", nil).StatusCode)
}

func TestProxyRefusesTraversal(t *testing.T) {
	upstream := httptest.NewServer(echo())
	defer upstream.Close()
	p := newProxyHarness(t)
	p.register("admin", "billing", upstream.URL+"/base")

	for _, path := range []string{
		"/extension/billing/..%2fadmin",
		"/extension/billing/..%2Fadmin",
		"/extension/billing/%2e%2e/admin",
		"/extension/billing/%2E%2E%2Fadmin",
		"/extension/billing/a/%252e%252e/%252e%252e/admin",
		"/extension/billing/a/..%252fadmin",
		"/extension/billing/a/.%2e/admin",
		"/extension/billing/..%5cadmin",
		"/extension/billing/%2e",
	} {
		resp := p.send(t, "GET", path, "alice", nil)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, path)
	}
	// A path the mux cleans is redirected, never proxied uncleaned.
	resp := p.send(t, "GET", "/extension/billing/../other/x", "alice", nil)
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	assert.Equal(t, "/extension/other/x", resp.Header.Get("Location"))

	// An encoded slash inside a segment stays under the base path.
	s := readSeen(t, p.send(t, "GET", "/extension/billing/a%2Fb", "alice", nil))
	assert.Equal(t, "/base/a/b", s.Path)
}

func TestProxyStreams(t *testing.T) {
	next := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i > 0 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
			http.NewResponseController(w).Flush()
		}
	}))
	defer upstream.Close()
	p := newProxyHarness(t, func(c *extension.Config) { c.ProxyTimeout = 200 * time.Millisecond })
	p.register("admin", "events", upstream.URL)

	resp := p.send(t, "GET", "/extension/events/stream", "alice", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	rd := bufio.NewReader(resp.Body)
	for i := range 3 {
		// Each event arrives before the upstream is told to send the next,
		// and after the header timeout: a started stream is not cut off.
		var lines []string
		for {
			line, err := rd.ReadString('\n')
			require.NoError(t, err, "event %d", i)
			if line == "\n" {
				break
			}
			lines = append(lines, strings.TrimSpace(line))
		}
		assert.Equal(t, []string{fmt.Sprintf("id: %d", i), fmt.Sprintf("data: event %d", i)}, lines)
		if i == 0 {
			time.Sleep(300 * time.Millisecond) // past ProxyTimeout; the stream lives on
		}
		if i < 2 {
			next <- struct{}{}
		}
	}
}

func TestProxyUpgrades(t *testing.T) {
	// An upstream that switches protocols and then echoes lines back in
	// upper case: the shape of a WebSocket, without a library.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Auth-Seen: %s\r\n\r\n",
			r.Header.Get("Authorization")+r.Header.Get(extension.IdentityHeader))
		_ = brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			fmt.Fprint(brw, strings.ToUpper(line))
			_ = brw.Flush()
		}
	}))
	defer upstream.Close()
	p := newProxyHarness(t, func(c *extension.Config) { c.ProxyTimeout = 200 * time.Millisecond })
	p.register("admin", "live", upstream.URL)

	conn, err := net.Dial("tcp", strings.TrimPrefix(p.front.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprint(conn, "GET /extension/live/socket HTTP/1.1\r\nHost: platform\r\nAuthorization: Bearer alice\r\n"+
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.Equal(t, "assertion:alice:live", resp.Header.Get("X-Auth-Seen"), "the upstream saw the assertion, not the token")
	time.Sleep(300 * time.Millisecond) // past ProxyTimeout; the connection lives on
	for _, msg := range []string{"hello\n", "again\n"} {
		_, err = fmt.Fprint(conn, msg)
		require.NoError(t, err)
		got, err := rd.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, strings.ToUpper(msg), got)
	}
}

func TestProxyIdentityReuse(t *testing.T) {
	upstream := httptest.NewServer(echo())
	defer upstream.Close()
	calls := 0
	h := newHarness(t, func(c *extension.Config) {
		c.Identity = func(_ context.Context, pr auth.Principal, audience string) (string, time.Time, error) {
			calls++
			return fmt.Sprintf("assertion-%d", calls), c.Now().Add(time.Minute), nil
		}
	})
	h.register("admin", "billing", upstream.URL)
	h.register("admin", "orders", upstream.URL)
	get := func(caller, prefix string) string {
		rec := h.do("GET", "/extension/"+prefix+"/x", caller, "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		return decode[seen](t, rec).Header.Get(extension.IdentityHeader)
	}
	assert.Equal(t, "assertion-1", get("alice", "billing"))
	assert.Equal(t, "assertion-1", get("alice", "billing"), "reused while young")
	assert.Equal(t, "assertion-2", get("alice", "orders"), "one per audience")
	assert.Equal(t, "assertion-3", get("admin", "billing"), "one per caller")
	h.clock.Advance(31 * time.Second)
	assert.Equal(t, "assertion-4", get("alice", "billing"), "renewed past half its life")
}
