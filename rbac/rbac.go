package rbac

import (
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/portico-dev/portico/internal/subject"
)

// Errors returned by the package. Callers branch with errors.Is and
// errors.As; the HTTP handlers map them to statuses in one place.
var (
	ErrNotFound = errors.New("rbac: not found")
	ErrExists   = errors.New("rbac: already exists")
	// ErrDenied is Authorize's answer when the subject lacks the permission.
	ErrDenied = errors.New("rbac: permission denied")
	// ErrNoSubject means the request carries no authenticated subject.
	ErrNoSubject = errors.New("rbac: authentication required")
	// ErrBuiltin refuses deleting the admin role or changing its permissions.
	ErrBuiltin = errors.New("rbac: the admin role cannot be deleted or have its permissions changed")
	// ErrInUse refuses deleting a role that group assignments still name.
	ErrInUse = errors.New("rbac: role is still assigned to groups")
)

// InvalidError reports a malformed field: a pattern, a role name, a group.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return "rbac: " + e.Field + " " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Permissions are allow and deny patterns: dot-separated subjects where "*"
// matches one token and ">" the rest. Deny wins over allow.
type Permissions struct {
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
}

// Role names a set of permissions and the extensions its holders may see
// ("*" for all).
type Role struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Permissions Permissions `json:"permissions"`
	Extensions  []string    `json:"extensions"`
	Builtin     bool        `json:"builtin,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

// Assignment gives every member of a group the listed roles.
type Assignment struct {
	Group     string    `json:"group"`
	Roles     []string  `json:"roles"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Subject is who asks: an identity, the roles it holds directly and the
// groups it belongs to. Hosts build it from their authenticated caller
// (auth.Principal's Subject, Roles and Groups).
type Subject struct {
	ID     string
	Roles  []string
	Groups []string
}

// Limits on what a role or an assignment may hold.
const (
	maxNameLen     = 64
	maxGroupLen    = 256
	maxDescription = 1024
	maxPatterns    = 1000
	maxRoles       = 100
	maxExtensions  = 1000
)

// ValidatePattern reports whether p is a valid permission pattern: tokens
// separated by single dots, none empty, no whitespace or control
// characters, "*" and ">" only as whole tokens and ">" only last.
func ValidatePattern(p string) error {
	if err := subject.Validate(p); err != nil {
		return invalid("pattern", "%q %s", p, err)
	}
	return nil
}

func validateName(field, name string) error {
	if name == "" || len(name) > maxNameLen {
		return invalid(field, "must be 1 to %d characters", maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return invalid(field, "%q may hold only letters, digits and - _ . :", name)
		}
	}
	return nil
}

func validateGroup(g string) error {
	if g == "" || len(g) > maxGroupLen || !utf8.ValidString(g) {
		return invalid("group", "must be 1 to %d bytes of UTF-8", maxGroupLen)
	}
	for _, r := range g {
		if unicode.IsControl(r) {
			return invalid("group", "%q contains a control character", g)
		}
	}
	return nil
}

func validateRole(r *Role) error {
	if err := validateName("name", r.Name); err != nil {
		return err
	}
	if len(r.Description) > maxDescription {
		return invalid("description", "must be at most %d bytes", maxDescription)
	}
	for _, l := range []struct {
		field string
		ps    []string
	}{{"permissions.allow", r.Permissions.Allow}, {"permissions.deny", r.Permissions.Deny}} {
		field, ps := l.field, l.ps
		if len(ps) > maxPatterns {
			return invalid(field, "may hold at most %d patterns", maxPatterns)
		}
		for _, p := range ps {
			if err := subject.Validate(p); err != nil {
				return invalid(field, "pattern %q %s", p, err)
			}
		}
	}
	if len(r.Extensions) > maxExtensions {
		return invalid("extensions", "may hold at most %d entries", maxExtensions)
	}
	for _, e := range r.Extensions {
		if e != "*" {
			if err := validateName("extensions", e); err != nil {
				return err
			}
		}
	}
	r.Permissions.Allow = dedupe(r.Permissions.Allow)
	r.Permissions.Deny = dedupe(r.Permissions.Deny)
	r.Extensions = dedupe(r.Extensions)
	return nil
}

func validateAssignment(a *Assignment) error {
	if err := validateGroup(a.Group); err != nil {
		return err
	}
	if len(a.Roles) > maxRoles {
		return invalid("roles", "may hold at most %d roles", maxRoles)
	}
	for _, r := range a.Roles {
		if err := validateName("roles", r); err != nil {
			return err
		}
	}
	a.Roles = dedupe(a.Roles)
	return nil
}

// dedupe returns ps sorted without repeats, never nil.
func dedupe(ps []string) []string {
	out := slices.Clone(ps)
	slices.Sort(out)
	return append([]string{}, slices.Compact(out)...)
}
