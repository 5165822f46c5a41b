// Package rbac decides what authenticated subjects may do: roles grant
// permission patterns, groups are assigned roles, and Authorize answers in
// the request path without touching the store.
//
// # Permissions
//
// A permission is a dot-separated subject such as "keys.create". Roles hold
// allow and deny patterns in NATS syntax: "*" matches exactly one token and
// ">" one or more trailing tokens ("orchestrator.batch.*",
// "extensions.datamigrator.>"). A deny in any role a subject holds wins over
// an allow in any other. Patterns are validated when a role is saved: empty
// tokens, ">" anywhere but last, wildcards mixed with other characters,
// whitespace and control characters are refused (400 over HTTP).
//
// Authorize also takes a pattern as the permission. It then asks for
// everything the pattern matches: it is allowed only if one allow pattern
// covers all of it and no deny pattern touches any of it. Package apikey
// uses this to check that a key's NATS subjects are within its creator's.
//
// # Who holds what
//
// A Subject holds its own roles, the roles assigned to each of its groups,
// and, if neither names an existing role, Config.DefaultRole. The built-in
// admin role (Config.AdminRole) allows ">" and cannot be deleted or have its
// permissions changed; subjects listed in Config.AdminSubjects and members
// of Config.AdminGroups (or of a group assigned the admin role) hold it
// whatever else they hold.
//
// With neither AdminSubjects nor AdminGroups configured the Authorizer is in
// bootstrap mode: every authenticated subject is an administrator, so a new
// deployment can create its first roles. New logs a warning and Bootstrap
// reports it (the example server shows it in /health). Configure an admin
// subject or group before exposing the service.
//
// Roles and assignments are compiled into an immutable snapshot each time
// they change; Authorize reads it through one atomic load and matches
// literal permissions with a map lookup or a token trie, without
// allocating. Explain makes the same decision and names the role and
// pattern behind it. A host running several instances over one store calls
// Reload when another instance changes roles.
//
// # Mounting
//
// Config.Subject tells the Authorizer who a request's caller is; with
// package auth it reads the Principal:
//
//	authz, err := rbac.New(rbac.Config{
//		AdminSubjects: []string{"admin"},
//		Subject: func(r *http.Request) (rbac.Subject, bool) {
//			p, ok := auth.FromContext(r.Context())
//			return rbac.Subject{ID: p.Subject, Roles: p.Roles, Groups: p.Groups}, ok
//		},
//	})
//	mux.Handle("/api/v1/", authSvc.Middleware(http.StripPrefix("/api/v1", authz.Handler())))
//	mux.Handle("POST /api/v1/things", authSvc.Middleware(authz.Require("things.create")(things)))
//
// Require answers 401 without a subject and 403 JSON naming the permission
// when the subject lacks it. Handler serves GET /roles (the caller's own
// roles and permissions) and the /admin/roles, /admin/role/{name},
// /admin/assignments, /admin/assignment/{group} and
// /admin/user/{subject}/roles routes, guarded by PermRead and PermWrite.
//
// # Threat model
//
// rbac trusts Config.Subject: whoever authenticates the request decides the
// subject's id, roles and groups. Groups from an external identity provider
// therefore grant whatever their assignments say; assign the admin role to
// a group only if that provider is trusted to manage its membership. Role
// changes apply to the next decision, but auth tokens carry the roles they
// were issued with until they expire, are refreshed or are revoked.
package rbac
