package orchestrator_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/orchestrator"
)

// verifyStandardWebhook checks a delivery the way the Standard Webhooks
// specification tells a receiver to, written here from the
// specification rather than with the package's Sign: the secret is
// base64 after "whsec_", the signed content is "id.timestamp.body", the
// header holds space-separated "v1,<base64 HMAC-SHA256>" entries.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errTolerance
	}
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id+"."+ts+".")
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errNoMatch
}

type verifyError string

func (e verifyError) Error() string { return string(e) }

const (
	errTolerance = verifyError("timestamp outside tolerance")
	errNoMatch   = verifyError("no matching signature")
)

type delivery struct {
	header http.Header
	body   []byte
}

func TestWebhooksAreSignedAndRetried(t *testing.T) {
	var (
		mu         sync.Mutex
		deliveries []delivery
		failFirst  = true
	)
	got := make(chan struct{}, 100)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		deliveries = append(deliveries, delivery{r.Header.Clone(), body})
		fail := failFirst
		failFirst = false
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got <- struct{}{}
	}))
	defer receiver.Close()

	e := startEngine(t, orchestrator.Config{Types: types(&recorder{}), Webhooks: orchestrator.WebhookConfig{
		AllowPrivate: true,
		Backoff:      func(int) time.Duration { return time.Millisecond },
	}})
	ctx := context.Background()
	hook, err := e.CreateWebhook(ctx, receiver.URL+"/hook", []string{"batch.*"}, "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(hook.Secret, "whsec_"))
	listed, err := e.Webhooks(ctx)
	require.NoError(t, err)
	require.Len(t, listed, 1)
	assert.Empty(t, listed[0].Secret, "listings never show the secret")

	b, _ := e.submitWait(t, orchestrator.Spec{Operations: []orchestrator.Operation{op("a", "ok")}})
	for range 2 { // batch.submitted, batch.completed; task events are filtered out
		select {
		case <-got:
		case <-time.After(30 * time.Second):
			t.Fatal("no delivery")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, deliveries, 3, "one failed attempt and two deliveries")
	assert.Equal(t, deliveries[0].header.Get("webhook-id"), deliveries[1].header.Get("webhook-id"), "a retry keeps the message id")
	assert.Equal(t, deliveries[0].body, deliveries[1].body)
	var typesSeen []string
	for _, d := range deliveries[1:] {
		require.NoError(t, verifyStandardWebhook(hook.Secret, d.header, d.body, time.Now()))
		assert.Equal(t, "application/json", d.header.Get("Content-Type"))
		var ev orchestrator.Event
		require.NoError(t, json.Unmarshal(d.body, &ev))
		typesSeen = append(typesSeen, ev.Type)
		assert.Contains(t, string(ev.Data), b.ID)
	}
	assert.Equal(t, []string{"batch.submitted", "batch.completed"}, typesSeen)

	tampered := append([]byte(nil), deliveries[1].body...)
	tampered[len(tampered)-2] ^= 1
	assert.ErrorIs(t, verifyStandardWebhook(hook.Secret, deliveries[1].header, tampered, time.Now()), errNoMatch, "the check is not vacuous")

	require.NoError(t, e.DeleteWebhook(ctx, hook.ID))
	assert.ErrorIs(t, e.DeleteWebhook(ctx, hook.ID), orchestrator.ErrNotFound)
}

func TestWebhookTargetsAndBodies(t *testing.T) {
	e := startEngine(t, orchestrator.Config{})
	ctx := context.Background()
	for _, target := range []string{
		"http://127.0.0.1:8080/x", "http://localhost/x", "http://api.localhost/x", "http://10.1.2.3/x",
		"http://192.168.0.1/x", "http://172.16.0.1/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
		"http://[fe80::1]/x", "http://[fd00::1]/x", "http://0.0.0.0/x", "http://100.64.0.1/x", "http://[::ffff:127.0.0.1]/x",
	} {
		_, err := e.CreateWebhook(ctx, target, nil, "")
		assert.ErrorIs(t, err, orchestrator.ErrPrivateTarget, target)
	}
	for _, tt := range []struct{ url, secret, event string }{
		{"ftp://example.com/x", "", ""},
		{"http://user:pw@example.com/x", "", ""},
		{"/relative", "", ""},
		{"", "", ""},
		{"https://example.com/" + strings.Repeat("a", 3000), "", ""},
		{"https://example.com/x", "not-whsec", ""},
		{"https://example.com/x", "whsec_!!!", ""},
		{"https://example.com/x", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short")), ""},
		{"https://example.com/x", "", "Task.Started"},
		{"https://example.com/x", "", "task.*.*"},
	} {
		var events []string
		if tt.event != "" {
			events = []string{tt.event}
		}
		_, err := e.CreateWebhook(ctx, tt.url, events, tt.secret)
		var inv *orchestrator.InvalidError
		assert.ErrorAs(t, err, &inv, "%+v", tt)
	}
	hook, err := e.CreateWebhook(ctx, "https://example.com/hook", []string{"task.failed", "batch.*", "*"}, "whsec_"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	require.NoError(t, err)
	assert.Equal(t, []string{"task.failed", "batch.*", "*"}, hook.Events)
}
