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
// # UI bundles
//
// An extension's UI is a bundle of ES modules and assets, published as a
// zip (POST /extensions/{identifier}/bundle/{version}) by an administrator
// or the extension's own key, with index.js at its root and optionally an
// import-map.json. The zip is capped (Config.MaxBundleBytes) and so is
// what it unpacks to, by bytes actually read rather than the zip's claims,
// and by file count; every path must be clean and relative. The server
// computes the SRI sha384 of every file: Integrity is the entry module's,
// and the import map's integrity section holds every module's, keyed by
// the URL the browser fetches. Import map targets are "./" paths that must
// be files of the bundle, or modules under Config.ModuleUpstream, which
// resolve to the platform's module route; anything else is refused.
//
// A published version never changes (publishing it again is 409), so its
// files are served with immutable caching and an ETag of their hash. The
// first version becomes active; an administrator activates another
// atomically (PUT /admin/bundles/{prefix}/active), and rolling back is
// activating an older one. The active version cannot be deleted (409).
// After each upload the settings' BundleRetention versions are kept, the
// active one always among them. GET /extensions/bundles/active gives a UI
// shell each visible extension's entry, integrity and resolved import
// map.
//
// # Modules, settings and licences
//
// GET /cdn/{path...} serves the dependency modules import maps point at,
// as the settings' resolution mode says: proxy fetches from
// Config.ModuleUpstream through a cache bounded by entries and bytes
// (least recently used first out, one fetch per path at a time, redirects
// only within the upstream), mixed first serves a module an active bundle
// ships under modules/, bundle-only answers 404. GET /admin/cdn/status
// shows the cache's size, limits, hits and recent errors.
//
// Settings (GET|PUT /admin/settings) hold the resolution mode, the module
// cache's limits, the bundle retention and the session idle timeout, which
// the registry hands to the host through Config.OnSettings (package auth:
// Service.SetSessionIdleTimeout). They are kept in the Store.
//
// A licence is a token the vendor signs with Ed25519 (SignLicense; the
// platform only verifies, against Config.LicenseKeys). POST /admin/licenses
// installs one after checking its signature and expiry; its entitlements
// (MaxExtensions) cap registrations while it is valid, and
// Config.Unlicensed applies without one or once it expires.
//
// Bundle files and modules are code a browser imports without
// credentials, so those two routes need no principal; everything else
// does, and the admin routes need Config.IsAdmin.
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
