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

	"github.com/nats-io/nkeys"
	"github.com/portico-dev/portico"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/portico-dev/portico/apikey"
	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/extension"
	"github.com/portico-dev/portico/internal/httpapi"
	"github.com/portico-dev/portico/internal/natsserver"
	"github.com/portico-dev/portico/openapi"
	"github.com/portico-dev/portico/orchestrator"
	"github.com/portico-dev/portico/ratelimit"
	"github.com/portico-dev/portico/rbac"
)

// maxBody is the platform's request body cap: 1 MB, answered 413.
const maxBody = 1 << 20

// platform is every package wired together.
type platform struct {
	log       *slog.Logger
	auth      *auth.Service
	rbac      *rbac.Authorizer
	keys      *apikey.Service
	limiter   *ratelimit.Limiter
	ext       *extension.Registry
	docs      *openapi.Aggregator
	docsH     http.Handler // the aggregated document and Swagger UI
	orch      *orchestrator.Engine
	metrics   *prometheus.Registry // served at /metrics
	nats      *natsserver.Server   // nil unless the embedded server runs
	natsURL   string
	audit     *auth.AuditLog
	storeName string
	stores    *stores
	ready     atomic.Bool
	// validateRequests checks proxied requests against the extensions'
	// documents.
	validateRequests bool
}

// defaultRole is the example server's role for clients holding no role
// that exists: self-service on their own session, tokens and API keys.
var defaultRole = rbac.Role{
	Name:        "user",
	Description: "Self-service: the caller's own session, tokens, roles and API keys.",
	Permissions: rbac.Permissions{Allow: []string{"auth.self", "keys.*", "extensions.read", "extensions.use"}},
}

// subject is the rbac view of a request's authenticated caller.
func subject(r *http.Request) (rbac.Subject, bool) {
	p, ok := auth.FromContext(r.Context())
	return subjectOf(p), ok
}

func subjectOf(p auth.Principal) rbac.Subject {
	return rbac.Subject{ID: p.Subject, Roles: p.Roles, Groups: p.Groups}
}

func newPlatform(ctx context.Context, cfg config, log *slog.Logger, stderr io.Writer) (_ *platform, err error) {
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
	operator, err := loadNKey(cfg.data, "operator.nk", nkeys.CreateOperator)
	if err != nil {
		return nil, err
	}
	account, err := loadNKey(cfg.data, "account.nk", nkeys.CreateAccount)
	if err != nil {
		return nil, err
	}
	st, err := openStores(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	p := &platform{log: log, audit: auth.NewAuditLog(10000), storeName: st.name, stores: st, natsURL: cfg.natsURL, validateRequests: cfg.validateRequests}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	buckets, err := st.rateLimit(ctx, cfg.rateStore)
	if err != nil {
		return nil, err
	}
	if p.limiter, err = newLimiter(cfg, buckets, log); err != nil {
		return nil, err
	}
	if buckets != nil {
		log.Info("rate-limit buckets are kept in the database, one limit for every instance on it", "dialect", st.name)
	}
	authStore := st.auth
	p.rbac, err = rbac.New(rbac.Config{
		Store:         st.rbac,
		AdminSubjects: []string{"admin"},
		DefaultRole:   defaultRole.Name,
		Subject:       subject,
		Lookup: func(ctx context.Context, id string) (rbac.Subject, error) {
			c, err := authStore.GetClient(ctx, id)
			if errors.Is(err, auth.ErrNotFound) {
				return rbac.Subject{}, rbac.ErrNotFound
			}
			return rbac.Subject{ID: c.ID, Roles: c.Roles, Groups: c.Groups}, err
		},
		MaxBodyBytes: maxBody,
		Logger:       log,
	})
	if err != nil {
		return nil, err
	}
	if _, err := p.rbac.CreateRole(ctx, defaultRole); err != nil && !errors.Is(err, rbac.ErrExists) {
		return nil, err
	}
	isAdmin := func(ctx context.Context, pr auth.Principal) bool { return p.rbac.IsAdmin(ctx, subjectOf(pr)) }
	p.keys, err = apikey.New(apikey.Config{
		Store:    st.keys,
		Clients:  authStore,
		Account:  account,
		Operator: operator,
		PublishAccount: func(ctx context.Context, jwt string) error {
			if p.nats == nil {
				return nil // an external server must be handed the account JWT by its operator
			}
			return p.nats.PublishAccount(ctx, jwt)
		},
		IsAdmin: isAdmin,
		Authorize: func(ctx context.Context, pr auth.Principal, perm string) error {
			return p.rbac.Authorize(ctx, subjectOf(pr), perm)
		},
		Audit:        p.audit.Record,
		ClientIP:     p.limiter.ClientIP,
		MaxBodyBytes: maxBody,
		Logger:       log,
	})
	if err != nil {
		return nil, err
	}
	p.auth, err = auth.New(auth.Config{
		Store:          authStore,
		Keys:           keys,
		IsAdmin:        isAdmin,
		Authenticators: []auth.Authenticator{p.keys},
		Audit:          p.audit.Record,
		ClientIP:       p.limiter.ClientIP,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	if err := p.newExtensions(cfg, st.ext, isAdmin, log); err != nil {
		return nil, err
	}
	p.metrics = prometheus.NewRegistry()
	p.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if p.orch, err = newOrchestrator(cfg, st.orch, p.metrics, log); err != nil {
		return nil, err
	}
	if err := p.newDocs(log); err != nil {
		return nil, err
	}
	if err := bootstrapAdmin(ctx, p.auth, cfg.adminPassword, stderr); err != nil {
		return nil, err
	}
	if cfg.natsAddr != "off" {
		accountJWT, err := p.keys.AccountJWT(ctx)
		if err != nil {
			return nil, err
		}
		if p.nats, err = natsserver.Start(natsserver.Config{Addr: cfg.natsAddr, Operator: operator, AccountJWT: accountJWT}); err != nil {
			return nil, fmt.Errorf("embedded NATS server: %w", err)
		}
		p.natsURL = p.nats.URL()
	}
	return p, nil
}

// newExtensions builds the extension registry: bundles and modules under
// /api/v1, the settings' session idle timeout applied to auth, licences
// verified against cfg's vendor keys.
func (p *platform) newExtensions(cfg config, store extension.Store, isAdmin func(context.Context, auth.Principal) bool, log *slog.Logger) error {
	var err error
	p.ext, err = extension.New(extension.Config{
		Store:   store,
		IsAdmin: isAdmin,
		CanSee: func(ctx context.Context, pr auth.Principal, prefix string) bool {
			return p.rbac.CanSee(ctx, subjectOf(pr), prefix)
		},
		Identity: func(_ context.Context, pr auth.Principal, audience string) (string, time.Time, error) {
			return p.auth.Assert(pr, audience, extension.DefaultIdentityLife)
		},
		ClientIP:       p.limiter.ClientIP,
		MaxBodyBytes:   maxBody,
		BaseURL:        "/api/v1",
		ModuleUpstream: cfg.moduleUpstream,
		OnSettings:     func(s extension.Settings) { p.auth.SetSessionIdleTimeout(s.SessionIdleTimeout) },
		LicenseKeys:    cfg.licenseKeys,
		Unlicensed:     extension.Entitlements{MaxExtensions: cfg.unlicensedExtensions},
		Logger:         log,
	})
	return err
}

// newDocs builds the aggregated API document: the platform's own, from
// the table of routes, and every extension's, rebuilt whenever a
// registration changes.
func (p *platform) newDocs(log *slog.Logger) error {
	var err error
	p.docs, err = openapi.New(openapi.Config{
		Platform: platformDocument(p.routes()),
		Sources: func(ctx context.Context) ([]openapi.Source, error) {
			all, err := p.ext.All(ctx)
			srcs := make([]openapi.Source, 0, len(all))
			for _, e := range all {
				if len(e.OpenAPI) > 0 {
					srcs = append(srcs, openapi.Source{ID: e.Prefix, Name: e.Name, Description: e.Description, Document: e.OpenAPI})
				}
			}
			return srcs, err
		},
		Logger: log,
	})
	if err != nil {
		return err
	}
	p.docsH = http.StripPrefix("/api/v1", p.docs.Handler())
	p.ext.Subscribe(func(ev extension.Event) {
		if ev.Type.Registration() {
			p.docs.Invalidate()
		}
	})
	return nil
}

func (p *platform) serveDocs(w http.ResponseWriter, r *http.Request) { p.docsH.ServeHTTP(w, r) }

// close stops what newPlatform started.
func (p *platform) close() {
	if p.nats != nil {
		p.nats.Shutdown()
	}
	p.stores.close()
}

// Route permissions: every authenticated route names the permission it
// needs. The built-in admin role holds them all; the default "user" role
// holds auth.self and keys.*.
const (
	permSelf      = "auth.self"  // the caller's own session, tokens, profile, MFA and roles
	permAuthAdmin = "auth.admin" // other clients and their tokens (auth also checks IsAdmin)
	permAudit     = "audit.read"
	permRateStats = "ratelimit.read"
	permExtRead   = "extensions.read"       // list and read registrations (filtered by the roles' extension lists)
	permExtUse    = "extensions.use"        // call extensions through the proxy (likewise filtered)
	permOrchRead  = "orchestrator.read"     // tasks, batches, progress, state, checkpoints, events
	permOrchRun   = "orchestrator.run"      // submit and cancel workflows and batches, take checkpoints
	permRollback  = "orchestrator.rollback" // execute rollbacks and restore checkpoints
	permWebhooks  = "orchestrator.webhooks" // manage webhooks
	permMetrics   = "metrics.read"          // the Prometheus metrics
)

// Rate-limit classes. The public routes are never limited; the
// authentication routes, which guess or mint credentials, get the strict
// class; every other route (authenticated, admin, or unknown) the general
// one. Both count per client IP.
var (
	publicRoutes = []string{
		"GET /api/v1/ping", "GET /api/v1/health", "GET /api/v1/ready", "GET /api/v1/info",
		"GET /api/v1/auth/status", "GET /api/v1/auth/jwks",
		// A UI imports a bundle's modules one file at a time; they are
		// served from the store and cached immutably by browsers.
		"GET /api/v1/extensions/{identifier}/bundle/{version}/{path...}",
	}
	authRoutes = []string{
		"POST /api/v1/auth/login", "GET /api/v1/usertoken", "POST /api/v1/keys", "PUT /api/v1/key/{id}",
	}
)

// newLimiter builds the two classes from -rate-auth and -rate-general
// (requests per minute per IP; 0 turns a class off) over store, or over a
// memory store when store is nil.
func newLimiter(cfg config, store ratelimit.Store, log *slog.Logger) (*ratelimit.Limiter, error) {
	var policies []ratelimit.Policy
	if cfg.rateAuth > 0 {
		policies = append(policies, ratelimit.Policy{Name: "auth", Limit: cfg.rateAuth, Window: time.Minute, Routes: authRoutes})
	}
	if cfg.rateGeneral > 0 {
		policies = append(policies, ratelimit.Policy{Name: "general", Limit: cfg.rateGeneral, Window: time.Minute,
			Except: append(append([]string(nil), publicRoutes...), authRoutes...)})
	}
	return ratelimit.New(ratelimit.Config{
		Store:          store,
		Policies:       policies,
		TrustedProxies: cfg.trustedProxies,
		DryRun:         cfg.rateDryRun,
		Logger:         log,
	})
}

// handler is the server's whole HTTP surface under /api/v1, the table of
// routes each behind the access it names, wrapped in the
// platform-wide middleware: panic recovery, request ids, security headers,
// the body cap, an access log and the rate limiter (so that a 429 carries
// the security headers and is logged).
func (p *platform) handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range p.routes() {
		h := rt.handler
		switch rt.access {
		case public:
		case authenticated:
			h = p.auth.Middleware(h)
		default:
			h = p.auth.Middleware(p.rbac.Require(rt.access)(h))
		}
		mux.Handle(rt.pattern, h)
	}

	var h http.Handler = httpapi.Mux(mux)
	h = p.limiter.Middleware(h)
	h = p.accessLog(h)
	h = p.bodyCap(h)
	h = httpapi.SecurityHeaders(h)
	h = httpapi.Recover(func(r *http.Request, v any) {
		p.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "request_id", httpapi.RequestIDFrom(r.Context()))
	})(h)
	return httpapi.RequestID(h)
}

// bodyCap caps request bodies at maxBody, but bundle uploads and
// orchestrator submissions (up to 10,000 operations) at their packages'
// own, larger caps.
func (p *platform) bodyCap(next http.Handler) http.Handler {
	caps := http.NewServeMux()
	caps.Handle("POST /api/v1/extensions/{identifier}/bundle/{version}", httpapi.MaxBody(extension.DefaultMaxBundleBytes)(next))
	caps.Handle("POST /api/v1/orchestrator/workflows", httpapi.MaxBody(orchestrator.DefaultMaxBodyBytes)(next))
	caps.Handle("POST /api/v1/orchestrator/batch/execute", httpapi.MaxBody(orchestrator.DefaultMaxBodyBytes)(next))
	caps.Handle("/", httpapi.MaxBody(maxBody)(next))
	return caps
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
	switch {
	case p.nats != nil && p.nats.Healthy() != nil:
		components["nats"], healthy = "unavailable", false
	case p.nats != nil:
		components["nats"] = "ok"
	case p.natsURL != "":
		components["nats"] = "external"
	default:
		components["nats"] = "off"
	}
	components["orchestrator"] = "ok"
	if !p.orch.Running() && p.ready.Load() {
		components["orchestrator"], healthy = "stopped", false
	}
	components["rbac"] = "ok"
	if p.rbac.Bootstrap() {
		components["rbac"] = "bootstrap mode: every authenticated caller is an administrator"
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
		"name":     "portico",
		"version":  portico.Version,
		"store":    p.storeName,
		"nats_url": p.natsURL,
		"account":  p.keys.AccountPublicKey(),
	})
}
