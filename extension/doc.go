// Package extension keeps the registry of extension services that sit
// behind the platform, watches their health, and proxies requests to them.
//
// # Registry
//
// An Extension is identified by its prefix (the {id} of the routes) and
// registers a name, description, version, upstream URL, OpenAPI document,
// features and UI metadata. Registration is by an administrator
// (Config.IsAdmin) or by the extension itself, with an API key whose
// identifier is the prefix (package apikey; only administrators grant
// identifiers). An extension registered by a key is owned by the key's
// client, and only that client's keys or an administrator may change or
// remove it afterwards. Config.CanSee decides who sees an extension (with
// package rbac, Authorizer.CanSee: the roles' extension lists); an
// extension a caller cannot see answers 404, the proxy included.
//
// Run checks every extension's health (a GET of HealthPath under the
// upstream) every Config.HealthInterval, and a new or moved one at once:
// 2xx is connected, another answer degraded, no answer disconnected, with
// the last-seen and last-check times and a short reason. Registrations,
// updates, removals and status changes are Events; Subscribe delivers them
// (package openapi re-aggregates its document on each).
//
// # Proxy
//
// ANY /extension/{id}/{path...} forwards to the extension's upstream
// through httputil.ReverseProxy with Rewrite:
//
//   - Only registered upstreams are reachable: the destination comes from
//     the registry, never from the request. The rest of the path is joined
//     under the upstream's base path, and a request with a "." or ".."
//     segment (also percent-encoded, also encoded twice) is refused with
//     400, so no path escapes the base.
//   - The caller's credentials never leave: Authorization,
//     Proxy-Authorization, Cookie, apiKey and X-Api-Key are removed, as are
//     hop-by-hop headers and any X-Portico-Identity the caller sent. With
//     Config.Identity the upstream gets X-Portico-Identity instead: a
//     minute-long EdDSA JWT (auth.Service.Assert) with audience the
//     extension's prefix, which the extension verifies against the
//     platform's JWKS. Set-Cookie from the upstream is dropped, so an
//     extension cannot set cookies on the platform's origin.
//   - X-Forwarded-For (the caller's address as Config.ClientIP resolves
//     it), X-Forwarded-Host, X-Forwarded-Proto and X-Request-Id are set.
//   - Each extension has a timeout for its response headers (Timeout, else
//     Config.ProxyTimeout): past it the caller gets 504 JSON. An upstream
//     that cannot be reached is 502 JSON. An upstream's own answers,
//     5xx included, pass through as they are.
//   - Responses stream: Server-Sent Events are flushed as they arrive, and
//     WebSocket upgrades pass through.
//   - Config.Transport is the upstream side: an http.RoundTripper per
//     extension, so a NATS request-reply transport can sit next to HTTP.
//
// The proxy caches an extension's route for up to five seconds; changes
// made through this Registry apply at once, changes made by another
// instance over a shared store within five seconds.
//
// # Mounting
//
//	reg, _ := extension.New(extension.Config{IsAdmin: isAdmin, CanSee: canSee, Identity: assert})
//	mux.Handle("/api/v1/", authSvc.Middleware(http.StripPrefix("/api/v1", reg.Handler())))
//	go reg.Run(ctx)
//
// Handler needs an authentication middleware in front of it that puts an
// auth.Principal in the context; this is the package's one import of a
// sibling (auth), for the Principal.
package extension
