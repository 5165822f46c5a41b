package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/portico-dev/portico"
	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/httpapi"
)

// maxBody is the platform's request body cap: 1 MB, answered 413.
const maxBody = 1 << 20

// platform is every package wired together.
type platform struct {
	log       *slog.Logger
	auth      *auth.Service
	audit     *auth.AuditLog
	storeName string
	ready     atomic.Bool
}

func newPlatform(ctx context.Context, cfg config, log *slog.Logger, stderr io.Writer) (*platform, error) {
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	keys, generated, err := loadKeys(cfg)
	if err != nil {
		return nil, err
	}
	if generated {
		log.Info("generated a signing key", "kid", keys.Signing().ID, "dir", cfg.data)
	}
	p := &platform{log: log, audit: auth.NewAuditLog(10000), storeName: "memory"}
	p.auth, err = auth.New(auth.Config{
		Store:  auth.NewMemoryStore(),
		Keys:   keys,
		Audit:  p.audit.Record,
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if err := bootstrapAdmin(ctx, p.auth, cfg.adminPassword, stderr); err != nil {
		return nil, err
	}
	log.Warn("state is kept in memory and lost when the server stops; only the signing key persists")
	return p, nil
}

// handler is the server's whole HTTP surface under /api/v1, wrapped in the
// platform-wide middleware: panic recovery, request ids, security headers,
// the body cap and an access log.
func (p *platform) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/ping", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"message": "pong"})
	})
	mux.HandleFunc("GET /api/v1/health", p.handleHealth)
	mux.HandleFunc("GET /api/v1/ready", p.handleReady)
	mux.HandleFunc("GET /api/v1/info", p.handleInfo)

	authH := http.StripPrefix("/api/v1", p.auth.Handler())
	for _, pattern := range []string{"/api/v1/auth", "/api/v1/auth/", "/api/v1/usertoken", "/api/v1/userinfo"} {
		mux.Handle(pattern, authH)
	}
	admin := func(h http.Handler) http.Handler { return p.auth.Middleware(auth.RequireRole("admin")(h)) }
	mux.Handle("GET /api/v1/admin/audit", admin(p.audit.Handler()))

	var h http.Handler = httpapi.Mux(mux)
	h = p.accessLog(h)
	h = httpapi.MaxBody(maxBody)(h)
	h = httpapi.SecurityHeaders(h)
	h = httpapi.Recover(func(r *http.Request, v any) {
		p.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "request_id", httpapi.RequestIDFrom(r.Context()))
	})(h)
	return httpapi.RequestID(h)
}

// accessLog logs one line per request. It never logs headers, so no
// Authorization value or token reaches the log.
func (p *platform) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := httpapi.NewResponseWriter(w)
		next.ServeHTTP(rw, r)
		p.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rw.Status(),
			"bytes", rw.Bytes(), "duration", time.Since(start), "request_id", httpapi.RequestIDFrom(r.Context()))
	})
}

// health checks each component; any failure makes the answer 503.
func (p *platform) health(ctx context.Context) (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	components := map[string]string{"store": "ok", "signing_key": "ok"}
	healthy := true
	if _, err := p.auth.Store().GetClient(ctx, "admin"); err != nil && !errors.Is(err, auth.ErrNotFound) {
		components["store"], healthy = "unavailable", false
	}
	if len(p.auth.Keys().Signing().Private) == 0 {
		components["signing_key"], healthy = "missing", false
	}
	return components, healthy
}

func (p *platform) handleHealth(w http.ResponseWriter, r *http.Request) {
	components, ok := p.health(r.Context())
	status, code := "ok", http.StatusOK
	if !ok {
		status, code = "degraded", http.StatusServiceUnavailable
	}
	httpapi.WriteJSON(w, code, map[string]any{"status": status, "components": components})
}

func (p *platform) handleReady(w http.ResponseWriter, r *http.Request) {
	_, ok := p.health(r.Context())
	if !ok || !p.ready.Load() {
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

func (p *platform) handleInfo(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{
		"name":    "portico",
		"version": portico.Version,
		"store":   p.storeName,
	})
}
