package extension

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
)

// maxParallelChecks bounds how many health checks CheckAll runs at once.
const maxParallelChecks = 8

// Check checks the health of one extension now: a GET of its HealthPath
// under its upstream, through its transport, within Config.HealthTimeout.
// A 2xx answer is StatusConnected, any other answer StatusDegraded, no
// answer StatusDisconnected. It records the result and, if the status
// changed, publishes an EventStatus.
func (r *Registry) Check(ctx context.Context, prefix string) (Extension, error) {
	e, err := r.store.GetExtension(ctx, prefix)
	if err != nil {
		return Extension{}, err
	}
	status, why := r.probe(ctx, e)
	if ctx.Err() != nil { // the caller gave up: that says nothing of the upstream
		return Extension{}, ctx.Err()
	}
	now := r.now().UTC()
	var previous Status
	got, err := r.store.UpdateExtension(ctx, prefix, func(x *Extension) error {
		if x.Upstream != e.Upstream || x.HealthPath != e.HealthPath {
			return errMoved
		}
		previous = x.Status
		x.Status, x.LastCheck, x.LastError = status, now, why
		if status == StatusConnected {
			x.LastSeen = now
		}
		return nil
	})
	if errors.Is(err, errMoved) { // re-registered meanwhile; its own check is due
		return r.store.GetExtension(ctx, prefix)
	}
	if err != nil {
		return Extension{}, err
	}
	if previous != status {
		r.log.Info("extension status changed", "prefix", prefix, "from", previous, "to", status, "reason", why)
		r.publish(Event{Type: EventStatus, Prefix: prefix, Status: status, Previous: previous, At: now})
	}
	return got, nil
}

var errMoved = errors.New("extension: upstream changed during the check")

// CheckAll checks every extension, a few at a time, and logs what fails.
func (r *Registry) CheckAll(ctx context.Context) {
	all, err := r.store.ListExtensions(ctx)
	if err != nil {
		r.log.Error("extension health checks: list extensions", "err", err)
		return
	}
	sem := make(chan struct{}, maxParallelChecks)
	var wg sync.WaitGroup
	for _, e := range all {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := r.Check(ctx, e.Prefix); err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
				r.log.Warn("extension health check failed", "prefix", e.Prefix, "err", err)
			}
		})
	}
	wg.Wait()
}

// probe asks the upstream's health endpoint and says what it found and,
// if not healthy, why in a few words.
func (r *Registry) probe(ctx context.Context, e Extension) (Status, string) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.HealthTimeout)
	defer cancel()
	u, err := parseUpstream(e.Upstream, r.cfg.UpstreamSchemes)
	if err != nil {
		return StatusDisconnected, "invalid upstream"
	}
	u.Path = joinPath(u.Path, e.HealthPath)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return StatusDisconnected, "invalid upstream"
	}
	req.Header.Set("User-Agent", "portico-health-check")
	rt, _ := r.transportFor(e)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return StatusDisconnected, reason(ctx, err)
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10) // so the connection can be reused
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return StatusDegraded, fmt.Sprintf("status %d", resp.StatusCode)
	}
	return StatusConnected, ""
}

// reason names a transport failure without addresses or internals.
func reason(ctx context.Context, err error) string {
	var (
		dnsErr    *net.DNSError
		certErr   *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
	)
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dnsErr):
		return "unknown host"
	case errors.As(err, &certErr) || errors.As(err, &recordErr):
		return "TLS failure"
	}
	return "unreachable"
}

// joinPath joins a base path and a path below it with one slash.
func joinPath(base, rest string) string {
	switch {
	case base == "" || base == "/":
		if !strings.HasPrefix(rest, "/") {
			return "/" + rest
		}
		return rest
	case strings.HasSuffix(base, "/") && strings.HasPrefix(rest, "/"):
		return base + rest[1:]
	case !strings.HasSuffix(base, "/") && !strings.HasPrefix(rest, "/"):
		return base + "/" + rest
	}
	return base + rest
}
