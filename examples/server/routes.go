package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-dev/portico"
	"github.com/portico-dev/portico/internal/httpapi"
)

// Who may call a route: the public, any authenticated caller (the package
// behind it decides the rest, as the extension registry does for an
// extension's own key), or a caller holding an rbac permission.
const (
	public        = "public"
	authenticated = "authenticated"
)

// Request bodies a route takes.
const (
	noBody   = ""
	jsonBody = "application/json"
	zipBody  = "application/zip"
)

// route is one route of the server: how it is served and how the API
// document describes it. The table of routes is the one place both come
// from, so the document cannot leave a route out.
type route struct {
	pattern string // as http.ServeMux takes it; no method means any
	handler http.Handler
	access  string // public, authenticated, or a permission
	tag     string
	summary string
	body    string
}

// def is a route's pattern, summary and body, as the table lists them.
type def struct{ pattern, summary, body string }

// routes is the server's table of routes: under /api/v1, and /metrics.
func (p *platform) routes() []route {
	var rs []route
	add := func(tag string, h http.Handler, access string, defs ...def) {
		for _, d := range defs {
			rs = append(rs, route{pattern: d.pattern, handler: h, access: access, tag: tag, summary: d.summary, body: d.body})
		}
	}
	strip := func(h http.Handler) http.Handler { return http.StripPrefix("/api/v1", h) }

	add("platform", http.HandlerFunc(p.handlePing), public, def{"GET /api/v1/ping", "Answer pong", noBody})
	add("platform", http.HandlerFunc(p.handleHealth), public, def{"GET /api/v1/health", "Component health (503 when degraded)", noBody})
	add("platform", http.HandlerFunc(p.handleReady), public, def{"GET /api/v1/ready", "Readiness (503 until ready)", noBody})
	add("platform", http.HandlerFunc(p.handleInfo), public, def{"GET /api/v1/info", "Name, version, store and NATS URL", noBody})

	authH := strip(p.auth.Handler())
	add("auth", authH, public,
		def{"GET /api/v1/auth/status", "Whether login, registration and OIDC are enabled", noBody},
		def{"GET /api/v1/auth/jwks", "The public signing keys (JWKS)", noBody},
		def{"POST /api/v1/auth/login", "Log in with client id, password and MFA code; a token and refresh token", jsonBody},
		def{"POST /api/v1/auth/refresh", "Exchange a refresh token for new tokens", jsonBody},
		def{"POST /api/v1/auth/clients/register", "Self-registration, when enabled", jsonBody},
		def{"GET /api/v1/usertoken", "Exchange an external OIDC ID token for a Portico token", noBody},
	)
	add("auth", authH, permSelf,
		def{"GET /api/v1/auth", "The current token's data", noBody},
		def{"DELETE /api/v1/auth", "Log out: revoke the current token and its session", noBody},
		def{"POST /api/v1/auth/logout", "Log out: revoke the current token and its session", noBody},
		def{"GET /api/v1/userinfo", "The caller's profile", noBody},
		def{"GET /api/v1/auth/tokens", "The caller's tokens", noBody},
		def{"POST /api/v1/auth/tokens", "Mint a token for the caller", jsonBody},
		def{"DELETE /api/v1/auth/tokens", "Revoke every token of the caller", noBody},
		def{"GET /api/v1/auth/tokens/{tid}", "One token (owner or administrator)", noBody},
		def{"DELETE /api/v1/auth/tokens/{tid}", "Revoke one token (owner or administrator)", noBody},
		def{"GET /api/v1/auth/clients", "The caller's client", noBody},
		def{"POST /api/v1/auth/clients", "Change the caller's name or password", jsonBody},
		def{"GET /api/v1/auth/clients/{id}", "One client (self or administrator)", noBody},
		def{"POST /api/v1/auth/mfa", "Begin MFA enrolment", noBody},
		def{"POST /api/v1/auth/mfa/confirm", "Confirm MFA enrolment with a code", jsonBody},
		def{"POST /api/v1/auth/mfa/disable", "Turn MFA off with a code", jsonBody},
	)
	add("auth", authH, permAuthAdmin,
		def{"GET /api/v1/auth/tokens/all", "Every token", noBody},
		def{"DELETE /api/v1/auth/tokens/all", "Revoke tokens by filter", noBody},
		def{"POST /api/v1/auth/tokens/cleanup", "Purge expired token records", noBody},
		def{"POST /api/v1/auth/clients/create", "Create a client", jsonBody},
		def{"GET /api/v1/auth/clients/all", "Every client", noBody},
		def{"POST /api/v1/auth/clients/{id}", "Update a client", jsonBody},
		def{"DELETE /api/v1/auth/clients/{id}", "Delete a client", noBody},
		def{"DELETE /api/v1/auth/clients/{id}/roles", "Remove every role of a client", noBody},
		def{"POST /api/v1/auth/clients/{id}/roles/{role}", "Give a client a role", noBody},
		def{"DELETE /api/v1/auth/clients/{id}/roles/{role}", "Take a role from a client", noBody},
		def{"POST /api/v1/auth/clients/{id}/enable", "Enable a client", noBody},
		def{"POST /api/v1/auth/clients/{id}/disable", "Disable a client and revoke its live tokens", noBody},
		def{"DELETE /api/v1/auth/clients/{id}/mfa", "Reset a client's MFA", noBody},
	)

	rbacH := strip(p.rbac.Handler())
	add("rbac", rbacH, permSelf, def{"GET /api/v1/roles", "The caller's roles and effective permissions", noBody})
	// rbac checks roles.read and roles.write on its admin routes itself.
	add("rbac", rbacH, authenticated,
		def{"GET /api/v1/admin/roles", "Every role", noBody},
		def{"POST /api/v1/admin/roles", "Create a role", jsonBody},
		def{"GET /api/v1/admin/role/{name}", "One role", noBody},
		def{"PUT /api/v1/admin/role/{name}", "Replace a role", jsonBody},
		def{"DELETE /api/v1/admin/role/{name}", "Delete a role", noBody},
		def{"GET /api/v1/admin/assignments", "Every group-to-role assignment", noBody},
		def{"POST /api/v1/admin/assignments", "Assign roles to a group", jsonBody},
		def{"DELETE /api/v1/admin/assignment/{group}", "Remove a group's assignment", noBody},
		def{"GET /api/v1/admin/user/{subject}/roles", "A subject's roles and effective permissions", noBody},
	)

	keysH := strip(p.keys.Handler())
	add("keys", keysH, "keys.create", def{"POST /api/v1/keys", "Create an API key; its secret is shown once", jsonBody})
	add("keys", keysH, "keys.read",
		def{"GET /api/v1/keys", "The caller's API keys (every key for an administrator)", noBody},
		def{"GET /api/v1/key/{id}", "One API key", noBody},
	)
	add("keys", keysH, "keys.update",
		def{"PUT /api/v1/key/{id}", "Update an API key", jsonBody},
		def{"POST /api/v1/key/{id}/revoke", "Revoke an API key", noBody},
		def{"POST /api/v1/key/{id}/reactivate", "Reactivate a revoked API key", noBody},
	)
	add("keys", keysH, "keys.delete", def{"DELETE /api/v1/key/{id}", "Delete an API key", noBody})
	add("keys", keysH, "keys.exchange", def{"GET /api/v1/apikey", "Exchange an API key for NATS credentials", noBody})

	// The registry admits administrators and each extension's own API key
	// to registration, removal and bundle uploads, whatever roles the key's
	// owner holds, and administrators alone to its admin routes; reads and
	// the proxy need a permission and then show only what the caller's
	// roles list.
	extH := strip(p.ext.Handler())
	add("extensions", extH, permExtRead,
		def{"GET /api/v1/extensions/all", "The extensions the caller may see", noBody},
		def{"GET /api/v1/extensions/features", "Their features, each with its extensions", noBody},
		def{"GET /api/v1/extension/{id}", "One extension with its OpenAPI document", noBody},
		def{"GET /api/v1/extensions/bundles/active", "The active UI bundle of every extension the caller may see", noBody},
	)
	proxy := extH
	if p.validateRequests {
		// p.docs is built from this table, so it is looked up on first use.
		validated := sync.OnceValue(func() http.Handler { return p.docs.ValidateRequests(extH) })
		proxy = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { validated().ServeHTTP(w, r) })
	}
	add("extensions", proxy, permExtUse, def{"/api/v1/extension/{id}/{path...}", "Call the extension (proxied to its upstream)", noBody})
	add("extensions", extH, authenticated,
		def{"POST /api/v1/extensions", "Register or update an extension (administrator or its own API key)", jsonBody},
		def{"DELETE /api/v1/extension/{id}", "Deregister an extension (administrator or its own API key)", noBody},
		def{"POST /api/v1/extensions/{identifier}/bundle/{version}", "Publish a UI bundle version: a zip with index.js at its root", zipBody},
		def{"GET /api/v1/admin/bundles", "Every bundle version (administrators)", noBody},
		def{"PUT /api/v1/admin/bundles/{prefix}/active", "Activate a bundle version; rolling back is activating an older one (administrators)", jsonBody},
		def{"DELETE /api/v1/admin/bundles/{prefix}/{version}", "Delete an inactive bundle version (administrators)", noBody},
		def{"GET /api/v1/admin/settings", "The platform settings (administrators)", noBody},
		def{"PUT /api/v1/admin/settings", "Change the settings the body holds (administrators)", jsonBody},
		def{"GET /api/v1/admin/cdn/status", "The module cache's size, limits and errors (administrators)", noBody},
		def{"GET /api/v1/admin/licenses", "The licence and the entitlements in force (administrators)", noBody},
		def{"POST /api/v1/admin/licenses", "Install a vendor licence (administrators)", jsonBody},
	)
	// Bundle files and modules are code a browser imports without
	// credentials.
	add("extensions", extH, public,
		def{"GET /api/v1/extensions/{identifier}/bundle/{version}/{path...}", "A file of a bundle version, cached immutably", noBody},
		def{"GET /api/v1/cdn/{path...}", "A dependency module, as the resolution setting says", noBody},
	)

	// The API document and its viewer are public: they describe routes,
	// every one of which still asks for credentials.
	add("platform", http.HandlerFunc(p.serveDocs), public,
		def{"GET /api/v1/openapi", "This document, aggregated with every extension's", noBody},
		def{"GET /api/v1/docs", "Swagger UI", noBody},
		def{"GET /api/v1/docs/{file}", "Swagger UI's assets", noBody},
	)
	orch := http.StripPrefix("/api/v1/orchestrator", p.orch.Handler())
	add("orchestrator", orch, permOrchRead,
		def{"GET /api/v1/orchestrator/tasks", "Tasks, newest batch first (?status=, ?batch_id=)", noBody},
		def{"GET /api/v1/orchestrator/tasks/{id}", "One task with its arguments and output", noBody},
		def{"GET /api/v1/orchestrator/batch/operations", "Batches and workflows, newest first (?status=, ?kind=)", noBody},
		def{"GET /api/v1/orchestrator/batch/operations/{id}", "One batch with its operations", noBody},
		def{"GET /api/v1/orchestrator/state/workflows/{id}/progress", "Percent, current step, steps done and an estimate of the time left", noBody},
		def{"GET /api/v1/orchestrator/state/workflows/{id}/snapshots", "The latest state snapshots, one per transition", noBody},
		def{"GET /api/v1/orchestrator/state/system/metrics", "Workers, queue depth, running tasks and counters", noBody},
		def{"GET /api/v1/orchestrator/state/system/health", "The engine's health (503 when stopped)", noBody},
		def{"GET /api/v1/orchestrator/state/statistics", "Batches and tasks by status", noBody},
		def{"GET /api/v1/orchestrator/rollback/checkpoints", "Checkpoints (?batch_id=)", noBody},
		def{"GET /api/v1/orchestrator/rollback/checkpoints/{id}", "One checkpoint", noBody},
		def{"GET /api/v1/orchestrator/rollback/statistics", "Rollback count, success rate and average time", noBody},
		def{"GET /api/v1/orchestrator/events", "Events as Server-Sent Events, resuming after Last-Event-ID or ?since=", noBody},
		def{"GET /api/v1/orchestrator/ws", "Events over WebSocket, resuming after ?since=", noBody},
	)
	add("orchestrator", orch, permOrchRun,
		def{"POST /api/v1/orchestrator/workflows", "Submit a workflow: a DAG of operations (Idempotency-Key honoured)", jsonBody},
		def{"POST /api/v1/orchestrator/batch/execute", "Submit a batch: {name, parallel_limit, rollback_enabled, operations}", jsonBody},
		def{"POST /api/v1/orchestrator/batch/operations/{id}/cancel", "Cancel a batch", noBody},
		def{"POST /api/v1/orchestrator/rollback/checkpoints", "Take a checkpoint: {batch_id, name}", jsonBody},
	)
	add("orchestrator", orch, permRollback,
		def{"POST /api/v1/orchestrator/rollback/execute", "Roll back to a checkpoint or the listed operations", jsonBody},
		def{"POST /api/v1/orchestrator/rollback/restore/{id}", "Restore a checkpoint and run the batch on from it", noBody},
	)
	add("orchestrator", orch, permWebhooks,
		def{"GET /api/v1/orchestrator/webhooks", "Webhooks, without their secrets", noBody},
		def{"POST /api/v1/orchestrator/webhooks", "Add a webhook: {url, events[], secret?}; signed per Standard Webhooks", jsonBody},
		def{"DELETE /api/v1/orchestrator/webhooks/{id}", "Remove a webhook", noBody},
	)
	add("platform", promhttp.HandlerFor(p.metrics, promhttp.HandlerOpts{}), permMetrics,
		def{"GET /metrics", "Prometheus metrics (text format)", noBody})
	add("platform", p.audit.Handler(), permAudit, def{"GET /api/v1/admin/audit", "The audit log", noBody})
	add("platform", strip(p.limiter.Handler()), permRateStats, def{"GET /api/v1/admin/ratelimit", "Rate-limit statistics", noBody})
	return rs
}

func (p *platform) handlePing(w http.ResponseWriter, _ *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"message": "pong"})
}

// anyMethods are the methods a route without one is documented with.
var anyMethods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

var pathParam = regexp.MustCompile(`\{([a-z]+)(\.\.\.)?\}`)

// platformDocument is the OpenAPI 3.0 document of the routes. Paths are
// absolute (/api/v1/...), as the extensions' are in the aggregated
// document, so it names no server. Every operation answers the JSON error
// body on failure.
func platformDocument(rs []route) []byte {
	paths := map[string]map[string]any{}
	for _, r := range rs {
		method, path, ok := strings.Cut(r.pattern, " ")
		if !ok {
			method, path = "", r.pattern
		}
		path = pathParam.ReplaceAllString(path, "{$1}")
		methods := anyMethods
		if method != "" {
			methods = []string{strings.ToLower(method)}
		}
		item := paths[path]
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		for _, m := range methods {
			item[m] = operation(r, path, m)
		}
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Portico",
			"version":     portico.Version,
			"description": "The Portico platform: authentication, API keys, roles, extensions and their UI bundles.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
					"description": "A Portico token, or an API key"},
				"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "apiKey"},
			},
			"schemas": map[string]any{
				"Error": map[string]any{
					"type":     "object",
					"required": []string{"error", "code"},
					"properties": map[string]any{
						"error": map[string]any{"type": "string", "description": "What went wrong, for people"},
						"code":  map[string]any{"type": "string", "description": "What went wrong, for programs"},
					},
				},
			},
			"responses": map[string]any{
				"Error": map[string]any{
					"description": "The request failed",
					"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}},
				},
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // maps of strings always marshal
	}
	return b
}

func operation(r route, path, method string) map[string]any {
	id := strings.Trim(pathParam.ReplaceAllString(strings.TrimPrefix(path, "/api/v1"), "by-$1"), "/")
	op := map[string]any{
		"operationId": method + "-" + strings.ReplaceAll(id, "/", "-"),
		"summary":     r.summary,
		"tags":        []string{r.tag},
		"responses": map[string]any{
			"200":     map[string]any{"description": "Success"},
			"default": map[string]any{"$ref": "#/components/responses/Error"},
		},
	}
	desc := "Public."
	switch r.access {
	case public:
	case authenticated:
		desc = "Needs authentication."
	default:
		desc = "Needs the permission " + r.access + "."
	}
	if r.access != public {
		op["security"] = []any{map[string]any{"bearer": []string{}}, map[string]any{"apiKey": []string{}}}
	}
	op["description"] = desc
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(r.pattern, -1) {
		p := map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}}
		if m[2] != "" {
			p["description"] = "The rest of the path; it may hold slashes"
		}
		params = append(params, p)
	}
	if params != nil {
		op["parameters"] = params
	}
	if r.body != noBody {
		schema := map[string]any{"type": "object"}
		if r.body == zipBody {
			schema = map[string]any{"type": "string", "format": "binary"}
		}
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{r.body: map[string]any{"schema": schema}}}
	}
	return op
}
