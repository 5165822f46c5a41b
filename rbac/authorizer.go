package rbac

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-dev/portico/internal/subject"
)

// Config configures an Authorizer. The zero value works: an in-memory
// store holding only the built-in admin role, and bootstrap mode (see
// AdminSubjects), which New logs as a warning.
type Config struct {
	// Store keeps roles and assignments. Nil: NewMemoryStore().
	Store Store
	// AdminRole is the built-in role that allows everything and cannot be
	// deleted or emptied. Empty: "admin".
	AdminRole string
	// AdminSubjects and AdminGroups hold AdminRole whatever their roles.
	// When both are empty the Authorizer is in bootstrap mode: every
	// authenticated subject is an administrator, so a fresh deployment can
	// be set up. Configure at least one for production.
	AdminSubjects []string
	AdminGroups   []string
	// DefaultRole is the role of a subject none of whose roles or groups
	// name an existing role. Empty: such a subject holds nothing.
	DefaultRole string
	// Subject returns the authenticated caller of a request, for Require
	// and the Handler. Nil: no request has a subject, so both answer 401.
	// A host using package auth returns the Principal's Subject, Roles and
	// Groups.
	Subject func(r *http.Request) (Subject, bool)
	// Lookup returns a subject's own roles and groups for the
	// /admin/user/{subject}/roles route, an error wrapping ErrNotFound for
	// an unknown one. Nil: every subject has no roles or groups of its own.
	Lookup func(ctx context.Context, id string) (Subject, error)
	// MaxBodyBytes caps request bodies of the Handler. Zero: 64 KiB.
	MaxBodyBytes int64
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Logger receives warnings and errors the handlers cannot show. Nil:
	// slog.Default().
	Logger *slog.Logger
}

// Authorizer decides what subjects may do. Roles and assignments are
// compiled into an immutable snapshot whenever they change, so Authorize
// reads one atomic pointer and never touches the store. It is safe for
// concurrent use.
type Authorizer struct {
	cfg       Config
	store     Store
	bootstrap bool
	log       *slog.Logger
	now       func() time.Time

	mu   sync.Mutex // serialises changes and the snapshot rebuilds that follow them
	snap atomic.Pointer[snapshot]
}

// New validates cfg, makes sure the built-in admin role exists in the
// store, and compiles the first snapshot.
func New(cfg Config) (*Authorizer, error) {
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	cfg.AdminRole = cmp.Or(cfg.AdminRole, "admin")
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, 64<<10)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := validateName("AdminRole", cfg.AdminRole); err != nil {
		return nil, err
	}
	if cfg.DefaultRole != "" {
		if err := validateName("DefaultRole", cfg.DefaultRole); err != nil {
			return nil, err
		}
	}
	for _, g := range cfg.AdminGroups {
		if err := validateGroup(g); err != nil {
			return nil, err
		}
	}
	a := &Authorizer{
		cfg:       cfg,
		store:     cfg.Store,
		bootstrap: len(cfg.AdminSubjects) == 0 && len(cfg.AdminGroups) == 0,
		log:       cfg.Logger,
		now:       cfg.Now,
	}
	ctx := context.Background()
	if _, err := a.store.GetRole(ctx, cfg.AdminRole); errors.Is(err, ErrNotFound) {
		now := a.now().UTC()
		err = a.store.CreateRole(ctx, Role{
			Name: cfg.AdminRole, Description: "Built in: allows everything.",
			Permissions: Permissions{Allow: []string{">"}, Deny: []string{}},
			Extensions:  []string{"*"}, Builtin: true, CreatedAt: now, UpdatedAt: now,
		})
		if err != nil && !errors.Is(err, ErrExists) {
			return nil, fmt.Errorf("rbac: create the admin role: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("rbac: read the admin role: %w", err)
	}
	if err := a.Reload(ctx); err != nil {
		return nil, err
	}
	if a.bootstrap {
		a.log.Warn("rbac: bootstrap mode: no admin subject or group is configured, so every authenticated caller is an administrator")
	}
	return a, nil
}

// Bootstrap reports whether the Authorizer is in bootstrap mode, where every
// authenticated subject is an administrator.
func (a *Authorizer) Bootstrap() bool { return a.bootstrap }

// compiledRole is a role ready for matching.
type compiledRole struct {
	name        string
	allow, deny subject.Set
	role        Role
	allExt      bool
}

func compile(r Role) *compiledRole {
	c := &compiledRole{name: r.Name, role: r, allExt: slices.Contains(r.Extensions, "*")}
	for _, p := range r.Permissions.Allow {
		if subject.Validate(p) == nil {
			c.allow.Add(p)
		}
	}
	for _, p := range r.Permissions.Deny {
		if subject.Validate(p) == nil {
			c.deny.Add(p)
		}
	}
	return c
}

// match finds a pattern of ps that decides perm: for a literal permission
// one that matches it; for a pattern, an allow pattern covering all of it or
// a deny pattern touching any of it.
func match(set *subject.Set, ps []string, perm string, literal bool, rel func(p, q string) bool) (string, bool) {
	if literal {
		return set.Match(perm)
	}
	for _, p := range ps {
		if rel(p, perm) {
			return p, true
		}
	}
	return "", false
}

func (c *compiledRole) allows(perm string, literal bool) (string, bool) {
	return match(&c.allow, c.role.Permissions.Allow, perm, literal, subject.Covers)
}

func (c *compiledRole) denies(perm string, literal bool) (string, bool) {
	return match(&c.deny, c.role.Permissions.Deny, perm, literal, subject.Intersects)
}

// snapshot is the compiled, immutable state Authorize reads.
type snapshot struct {
	roles       map[string]*compiledRole
	groups      map[string][]*compiledRole // group -> its assigned roles that exist
	admin       *compiledRole
	adminSubj   map[string]bool
	adminGroups map[string]bool // configured admin groups and groups assigned AdminRole
	def         *compiledRole
	bootstrap   bool
}

// Reload recompiles the snapshot from the store. Changes made through the
// Authorizer reload on their own; a host whose store another instance
// writes calls Reload when it learns of a change.
func (a *Authorizer) Reload(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reload(ctx)
}

func (a *Authorizer) reload(ctx context.Context) error {
	roles, err := a.store.ListRoles(ctx)
	if err != nil {
		return fmt.Errorf("rbac: load roles: %w", err)
	}
	assignments, err := a.store.ListAssignments(ctx)
	if err != nil {
		return fmt.Errorf("rbac: load assignments: %w", err)
	}
	sn := &snapshot{
		roles:       make(map[string]*compiledRole, len(roles)),
		groups:      make(map[string][]*compiledRole, len(assignments)),
		adminSubj:   make(map[string]bool),
		adminGroups: make(map[string]bool),
		bootstrap:   a.bootstrap,
	}
	for _, r := range roles {
		sn.roles[r.Name] = compile(r)
	}
	// The admin role allows everything whatever the store says.
	sn.admin = compile(Role{Name: a.cfg.AdminRole, Permissions: Permissions{Allow: []string{">"}}, Extensions: []string{"*"}})
	if r, ok := sn.roles[a.cfg.AdminRole]; ok {
		sn.admin.role = r.role
	}
	sn.roles[a.cfg.AdminRole] = sn.admin
	for _, s := range a.cfg.AdminSubjects {
		sn.adminSubj[s] = true
	}
	for _, g := range a.cfg.AdminGroups {
		sn.adminGroups[g] = true
	}
	for _, as := range assignments {
		for _, name := range as.Roles {
			if c := sn.roles[name]; c != nil {
				sn.groups[as.Group] = append(sn.groups[as.Group], c)
			}
			if name == a.cfg.AdminRole {
				sn.adminGroups[as.Group] = true
			}
		}
	}
	sn.def = sn.roles[a.cfg.DefaultRole]
	a.snap.Store(sn)
	return nil
}

// isAdmin reports whether s holds the admin role, and how.
func (sn *snapshot) isAdmin(s Subject, adminRole string) (bool, string) {
	switch {
	case sn.bootstrap:
		return true, "bootstrap mode"
	case sn.adminSubj[s.ID]:
		return true, "admin subject"
	case slices.Contains(s.Roles, adminRole):
		return true, "holds the admin role"
	}
	for _, g := range s.Groups {
		if sn.adminGroups[g] {
			return true, "member of admin group " + g
		}
	}
	return false, ""
}

// eachRole calls f with each role s holds, own roles then groups' (with
// repeats), or the default role if s holds none; f returns false to stop.
func (sn *snapshot) eachRole(s Subject, f func(*compiledRole) bool) {
	held := false
	for _, name := range s.Roles {
		if c := sn.roles[name]; c != nil {
			held = true
			if !f(c) {
				return
			}
		}
	}
	for _, g := range s.Groups {
		for _, c := range sn.groups[g] {
			held = true
			if !f(c) {
				return
			}
		}
	}
	if !held && sn.def != nil {
		f(sn.def)
	}
}

// verdict is a decision and what made it.
type verdict struct {
	allowed bool
	invalid bool
	role    string
	pattern string
}

// decide is the one decision Authorize and Explain share. Admins are
// allowed everything; otherwise a deny pattern in any held role wins over
// an allow pattern in any other.
func (a *Authorizer) decide(sn *snapshot, s Subject, perm string) verdict {
	literal := subject.ValidLiteral(perm)
	if !literal && subject.Validate(perm) != nil {
		return verdict{invalid: true}
	}
	if ok, _ := sn.isAdmin(s, a.cfg.AdminRole); ok {
		return verdict{allowed: true, role: a.cfg.AdminRole, pattern: ">"}
	}
	var v verdict
	sn.eachRole(s, func(c *compiledRole) bool {
		if p, ok := c.denies(perm, literal); ok {
			v = verdict{role: c.name, pattern: p}
			return false
		}
		if !v.allowed {
			if p, ok := c.allows(perm, literal); ok {
				v = verdict{allowed: true, role: c.name, pattern: p}
			}
		}
		return true
	})
	return v
}

// Authorize reports whether s holds permission: nil if allowed, ErrDenied
// if not, an *InvalidError if permission is not a valid pattern. A
// permission with wildcards asks for all it matches: it is allowed only if
// one allow pattern covers it whole and no deny pattern touches it.
func (a *Authorizer) Authorize(_ context.Context, s Subject, permission string) error {
	v := a.decide(a.snap.Load(), s, permission)
	switch {
	case v.invalid:
		return ValidatePattern(permission)
	case !v.allowed:
		return ErrDenied
	}
	return nil
}

// Decision explains an authorization: whether it was allowed, and the role
// and pattern that decided it.
type Decision struct {
	Subject    string `json:"subject"`
	Permission string `json:"permission"`
	Allowed    bool   `json:"allowed"`
	Role       string `json:"role,omitempty"`
	Pattern    string `json:"pattern,omitempty"`
	Reason     string `json:"reason"`
}

// Explain makes the decision Authorize makes and says why.
func (a *Authorizer) Explain(_ context.Context, s Subject, permission string) Decision {
	sn := a.snap.Load()
	v := a.decide(sn, s, permission)
	d := Decision{Subject: s.ID, Permission: permission, Allowed: v.allowed, Role: v.role, Pattern: v.pattern}
	if admin, how := sn.isAdmin(s, a.cfg.AdminRole); admin && !v.invalid {
		d.Reason = "allowed: administrator (" + how + ")"
		return d
	}
	switch {
	case v.invalid:
		d.Reason = "invalid permission: " + ValidatePattern(permission).Error()
	case v.allowed:
		d.Reason = fmt.Sprintf("allowed by role %q pattern %q", v.role, v.pattern)
	case v.role != "":
		d.Reason = fmt.Sprintf("denied by role %q pattern %q", v.role, v.pattern)
	default:
		d.Reason = "denied: no role allows it"
	}
	return d
}

// IsAdmin reports whether s holds the admin role: directly, through a
// group, as a configured admin subject or group, or in bootstrap mode.
func (a *Authorizer) IsAdmin(_ context.Context, s Subject) bool {
	ok, _ := a.snap.Load().isAdmin(s, a.cfg.AdminRole)
	return ok
}

// Effective is what a subject holds: its roles and the union of their
// permissions.
type Effective struct {
	Subject     string      `json:"subject"`
	Roles       []string    `json:"roles"`
	Permissions Permissions `json:"permissions"`
	Extensions  []string    `json:"extensions"`
}

// Effective returns the roles s holds and their permissions. An
// administrator's are the admin role's alone: allow ">".
func (a *Authorizer) Effective(_ context.Context, s Subject) Effective {
	sn := a.snap.Load()
	var held []*compiledRole
	if ok, _ := sn.isAdmin(s, a.cfg.AdminRole); ok {
		held = []*compiledRole{sn.admin}
	} else {
		sn.eachRole(s, func(c *compiledRole) bool { held = append(held, c); return true })
	}
	e := Effective{Subject: s.ID}
	for _, c := range held {
		e.Roles = append(e.Roles, c.name)
		e.Permissions.Allow = append(e.Permissions.Allow, c.role.Permissions.Allow...)
		e.Permissions.Deny = append(e.Permissions.Deny, c.role.Permissions.Deny...)
		e.Extensions = append(e.Extensions, c.role.Extensions...)
	}
	e.Roles = dedupe(e.Roles)
	e.Permissions.Allow = dedupe(e.Permissions.Allow)
	e.Permissions.Deny = dedupe(e.Permissions.Deny)
	e.Extensions = dedupe(e.Extensions)
	return e
}

// CanSee reports whether s may see the extension with the given
// identifier: an administrator sees every one, anyone else those its roles
// list (or all, if one lists "*").
func (a *Authorizer) CanSee(_ context.Context, s Subject, extension string) bool {
	sn := a.snap.Load()
	if ok, _ := sn.isAdmin(s, a.cfg.AdminRole); ok {
		return true
	}
	seen := false
	sn.eachRole(s, func(c *compiledRole) bool {
		seen = c.allExt || slices.Contains(c.role.Extensions, extension)
		return !seen
	})
	return seen
}
