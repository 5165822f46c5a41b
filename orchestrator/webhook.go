package orchestrator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits on webhooks.
const (
	maxWebhookURL    = 2048
	maxWebhookEvents = 50
	secretPrefix     = "whsec_"
	minSecretBytes   = 24
	maxSecretBytes   = 64
)

// ErrPrivateTarget refuses a webhook URL on a loopback, private or other
// non-public address while WebhookConfig.AllowPrivate is off.
var ErrPrivateTarget = errors.New("orchestrator: webhook target is not a public address")

// webhooks delivers events to the registered endpoints: one follower of
// the event log per webhook, so a slow or failing endpoint delays only
// its own deliveries.
type webhooks struct {
	e      *Engine
	client *http.Client

	mu        sync.Mutex
	ctx       context.Context // set once run starts
	followers map[string]context.CancelFunc
	pending   map[string]uint64 // created before run: where each starts
	wg        sync.WaitGroup
}

func newWebhooks(e *Engine) *webhooks {
	w := &webhooks{e: e, client: e.cfg.Webhooks.Client, followers: map[string]context.CancelFunc{}, pending: map[string]uint64{}}
	if w.client == nil {
		allowPrivate := e.cfg.Webhooks.AllowPrivate
		dialer := &net.Dialer{
			Timeout: e.cfg.Webhooks.Timeout,
			Control: func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return err
				}
				if !allowPrivate && !publicAddr(ap.Addr()) {
					return ErrPrivateTarget
				}
				return nil
			},
		}
		w.client = &http.Client{
			Timeout: e.cfg.Webhooks.Timeout,
			// No proxy from the environment: it would be dialled instead
			// of the target, and the address check with it.
			Transport: &http.Transport{DialContext: dialer.DialContext, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return w
}

// publicAddr reports whether a is a public unicast address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	return a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}

// run starts a follower for every stored webhook and stops them all when
// ctx is done.
func (w *webhooks) run(ctx context.Context) {
	// Held while listing, so a webhook created meanwhile is started
	// either here or by CreateWebhook.
	w.mu.Lock()
	hooks, err := w.e.store.ListWebhooks(ctx)
	if err != nil {
		w.e.log.Error("orchestrator: loading webhooks", "err", err)
	}
	after := w.e.LastSeq()
	w.ctx = ctx
	for _, h := range hooks {
		from, ok := w.pending[h.ID]
		if !ok {
			from = after
		}
		w.startLocked(h, from)
	}
	w.pending = nil
	w.mu.Unlock()
	<-ctx.Done()
	w.wg.Wait()
}

func (w *webhooks) startLocked(h Webhook, after uint64) {
	if w.ctx == nil {
		w.pending[h.ID] = after // run starts it
		return
	}
	if w.ctx.Err() != nil {
		return
	}
	if _, ok := w.followers[h.ID]; ok {
		return
	}
	key, err := secretKey(h.Secret)
	if err != nil {
		w.e.log.Error("orchestrator: webhook secret", "webhook", h.ID, "err", err)
		return
	}
	ctx, cancel := context.WithCancel(w.ctx)
	w.followers[h.ID] = cancel
	w.wg.Go(func() {
		_ = w.e.Subscribe(ctx, after, func(ev Event) error {
			if matchEvent(h.Events, ev.Type) {
				w.deliver(ctx, h, key, ev)
			}
			return nil
		})
	})
}

func (w *webhooks) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.followers)
}

// deliver sends one event, retrying with backoff.
func (w *webhooks) deliver(ctx context.Context, h Webhook, key []byte, ev Event) {
	body, err := json.Marshal(ev)
	if err != nil {
		return
	}
	id := h.ID + "_" + strconv.FormatUint(ev.Seq, 10)
	for n := 1; ; n++ {
		err := w.send(ctx, h.URL, id, key, body)
		if err == nil || ctx.Err() != nil {
			return
		}
		if n >= w.e.cfg.Webhooks.MaxAttempts {
			w.e.log.Warn("orchestrator: webhook delivery failed", "webhook", h.ID, "seq", ev.Seq, "attempts", n, "err", err)
			return
		}
		t := time.NewTimer(w.e.cfg.Webhooks.Backoff(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (w *webhooks) send(ctx context.Context, target, id string, key, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(w.e.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "portico-orchestrator")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", Sign(key, id, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// Sign returns the Standard Webhooks signature header value of a
// message: "v1," and the base64 HMAC-SHA256, keyed by the secret's bytes,
// of "id.timestamp.body".
func Sign(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// secretKey decodes a "whsec_" secret into its key bytes.
func secretKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New("secret must start with " + secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("secret is not base64 after " + secretPrefix)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("secret must hold %d-%d bytes", minSecretBytes, maxSecretBytes)
	}
	return key, nil
}

// matchEvent reports whether an event type passes a webhook's filter.
func matchEvent(filter []string, typ string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if f == "*" || f == typ {
			return true
		}
		if family, ok := strings.CutSuffix(f, ".*"); ok && strings.HasPrefix(typ, family+".") {
			return true
		}
	}
	return false
}

func validEventFilter(f string) bool {
	if f == "*" {
		return true
	}
	f = strings.TrimSuffix(f, ".*")
	if f == "" || len(f) > 64 {
		return false
	}
	for i := 0; i < len(f); i++ {
		if c := f[i]; !('a' <= c && c <= 'z' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// CreateWebhook registers an endpoint for events. url must be http or
// https and, unless WebhookConfig.AllowPrivate, not on a loopback,
// private or link-local address (ErrPrivateTarget). An empty secret is
// generated. The returned Webhook holds the secret; listings do not.
func (e *Engine) CreateWebhook(ctx context.Context, rawURL string, events []string, secret string) (Webhook, error) {
	if err := e.checkTarget(rawURL); err != nil {
		return Webhook{}, err
	}
	if len(events) > maxWebhookEvents {
		return Webhook{}, invalid("events", "has more than %d entries", maxWebhookEvents)
	}
	for i, f := range events {
		if !validEventFilter(f) {
			return Webhook{}, invalid(fmt.Sprintf("events[%d]", i), "must be an event type, a family like \"task.*\", or \"*\"")
		}
	}
	if secret == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		secret = secretPrefix + base64.StdEncoding.EncodeToString(b[:])
	} else if _, err := secretKey(secret); err != nil {
		return Webhook{}, invalid("secret", "%s", err.Error())
	}
	if events == nil {
		events = []string{}
	}
	h := Webhook{ID: newID("wh_"), URL: rawURL, Events: events, Secret: secret, CreatedAt: e.now()}
	if err := e.store.CreateWebhook(ctx, h); err != nil {
		return Webhook{}, err
	}
	e.hooks.mu.Lock()
	e.hooks.startLocked(h, e.LastSeq())
	e.hooks.mu.Unlock()
	return h, nil
}

func (e *Engine) checkTarget(rawURL string) error {
	if rawURL == "" || len(rawURL) > maxWebhookURL {
		return invalid("url", "must be 1-%d bytes", maxWebhookURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return invalid("url", "must be an absolute http or https URL without user info or fragment")
	}
	if e.cfg.Webhooks.AllowPrivate {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return ErrPrivateTarget
	}
	if a, err := netip.ParseAddr(host); err == nil && !publicAddr(a) {
		return ErrPrivateTarget
	}
	return nil
}

// Webhooks returns the webhooks, without their secrets.
func (e *Engine) Webhooks(ctx context.Context) ([]Webhook, error) {
	hooks, err := e.store.ListWebhooks(ctx)
	for i := range hooks {
		hooks[i].Secret = ""
	}
	return hooks, err
}

// DeleteWebhook removes a webhook and stops its deliveries.
func (e *Engine) DeleteWebhook(ctx context.Context, id string) error {
	if err := e.store.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	e.hooks.mu.Lock()
	if cancel, ok := e.hooks.followers[id]; ok {
		cancel()
		delete(e.hooks.followers, id)
	}
	e.hooks.mu.Unlock()
	return nil
}
