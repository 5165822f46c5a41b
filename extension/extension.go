package extension

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Errors returned by the package.
var (
	ErrNotFound = errors.New("extension: not found")
	ErrExists   = errors.New("extension: already exists")
	// ErrForbidden refuses an action the caller may not take.
	ErrForbidden = errors.New("extension: forbidden")
	// ErrUnauthenticated is a request without a principal.
	ErrUnauthenticated = errors.New("extension: authentication required")
)

// InvalidError reports a malformed field of a request.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return "extension: " + e.Field + " " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func forbidden(reason string) error { return fmt.Errorf("%w: %s", ErrForbidden, reason) }

// Status is an extension's health as the registry's checks last saw it.
type Status string

// The statuses. A new extension is StatusDisconnected until its first
// health check passes.
const (
	// StatusConnected: the health endpoint answered 2xx.
	StatusConnected Status = "connected"
	// StatusDegraded: the upstream answered, but not 2xx.
	StatusDegraded Status = "degraded"
	// StatusDisconnected: the upstream could not be reached, or has not
	// been checked yet.
	StatusDisconnected Status = "disconnected"
)

// Extension is a registered extension service.
type Extension struct {
	// Prefix identifies the extension: 1-64 lowercase letters, digits, -
	// and _, starting with a letter or digit. It is the {id} in routes, the
	// API key identifier that may manage it and the namespace of its
	// OpenAPI operations.
	Prefix      string `json:"prefix"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Version     string `json:"version"`
	// Upstream is the base URL the proxy forwards to: http or https (or a
	// scheme in Config.UpstreamSchemes), no user info, query or fragment.
	// Its path is the base path nothing proxied can escape.
	Upstream string `json:"upstream"`
	// OpenAPI is the extension's OpenAPI 3 document (a JSON object), if
	// it has one. It is checked when documents are aggregated, not here,
	// so a bad document costs the extension its entry in the aggregated
	// document and nothing else.
	OpenAPI  json.RawMessage `json:"openapi,omitempty"`
	Features []string        `json:"features"`
	// UI is free-form metadata for a UI shell (a JSON object): menu
	// entries, icons, titles.
	UI json.RawMessage `json:"ui,omitempty"`
	// HealthPath is the path under Upstream the health checks GET
	// (default /health).
	HealthPath string `json:"health_path"`
	// Timeout bounds how long the proxy waits for the upstream's response
	// headers; zero means Config.ProxyTimeout. A response that has begun
	// (a stream) is not cut off.
	Timeout time.Duration `json:"-"`

	Status    Status    `json:"status"`
	LastSeen  time.Time `json:"last_seen,omitzero"`  // the last passing health check
	LastCheck time.Time `json:"last_check,omitzero"` // the last health check
	// LastError says why the last check did not pass ("connection
	// refused", "status 503").
	LastError string `json:"last_error,omitempty"`

	// Owner is the client whose API key registered the extension, or
	// empty if an administrator did. Only the owner's keys (and
	// administrators) may change it afterwards.
	Owner     string    `json:"owner,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// extensionJSON adds the timeout in milliseconds to the JSON form.
type extensionJSON struct {
	extensionAlias
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

type extensionAlias Extension

// MarshalJSON writes Timeout as timeout_ms.
func (e Extension) MarshalJSON() ([]byte, error) {
	return json.Marshal(extensionJSON{extensionAlias(e), e.Timeout.Milliseconds()})
}

// UnmarshalJSON reads timeout_ms into Timeout.
func (e *Extension) UnmarshalJSON(b []byte) error {
	var j extensionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Extension(j.extensionAlias)
	e.Timeout = time.Duration(j.TimeoutMS) * time.Millisecond
	return nil
}

func (e Extension) clone() Extension {
	e.OpenAPI = slices.Clone(e.OpenAPI)
	e.UI = slices.Clone(e.UI)
	e.Features = slices.Clone(e.Features)
	return e
}

// summary is the extension without its OpenAPI document, as lists show it.
func (e Extension) summary() Extension {
	e.OpenAPI = nil
	return e
}

// Limits on an extension's fields.
const (
	maxPrefix      = 64
	maxName        = 128
	maxDescription = 2048
	maxVersion     = 64
	maxURL         = 2048
	maxFeatures    = 100
	maxFeature     = 64
	maxUI          = 16 << 10
	maxTimeout     = 10 * time.Minute
)

// ValidPrefix reports whether s is a well-formed prefix.
func ValidPrefix(s string) bool {
	if s == "" || len(s) > maxPrefix || s[0] == '-' || s[0] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validText(field, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return invalid(field, "is required")
	case len(v) > max:
		return invalid(field, "must be at most %d bytes", max)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }):
		return invalid(field, "must not hold control characters")
	}
	return nil
}

func validObject(field string, raw json.RawMessage, max int) error {
	if len(raw) == 0 {
		return nil
	}
	if max > 0 && len(raw) > max {
		return invalid(field, "must be at most %d bytes", max)
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return invalid(field, "must be a JSON object")
	}
	return nil
}

// parseUpstream checks an upstream URL against the schemes allowed.
func parseUpstream(raw string, schemes []string) (*url.URL, error) {
	if raw == "" {
		return nil, invalid("upstream", "is required")
	}
	if len(raw) > maxURL {
		return nil, invalid("upstream", "must be at most %d bytes", maxURL)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return nil, invalid("upstream", "must be an absolute URL")
	case !slices.Contains(schemes, u.Scheme):
		return nil, invalid("upstream", "must use %s", strings.Join(schemes, " or "))
	case u.User != nil:
		return nil, invalid("upstream", "must not hold credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, invalid("upstream", "must not have a query or fragment")
	case hasDotSegment(u.Path):
		return nil, invalid("upstream", "must not have . or .. path segments")
	}
	return u, nil
}

// normalize checks e as a registration (the fields a caller sets) and
// tidies it: features sorted and deduplicated, the health path defaulted.
func (e *Extension) normalize(schemes []string, maxDoc int) error {
	if !ValidPrefix(e.Prefix) {
		return invalid("prefix", "must be 1-%d lowercase letters, digits, - and _, starting with a letter or digit", maxPrefix)
	}
	if _, err := parseUpstream(e.Upstream, schemes); err != nil {
		return err
	}
	if e.HealthPath == "" {
		e.HealthPath = "/health"
	}
	if !strings.HasPrefix(e.HealthPath, "/") || len(e.HealthPath) > maxURL || hasDotSegment(e.HealthPath) ||
		strings.ContainsAny(e.HealthPath, "?#\\ ") {
		return invalid("health_path", "must be a path starting with /")
	}
	if e.Timeout < 0 || e.Timeout > maxTimeout {
		return invalid("timeout_ms", "must be between 0 and %d", maxTimeout.Milliseconds())
	}
	if len(e.Features) > maxFeatures {
		return invalid("features", "must hold at most %d entries", maxFeatures)
	}
	for _, f := range e.Features {
		if f == "" || len(f) > maxFeature || strings.ContainsFunc(f, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:", r))
		}) {
			return invalid("features", "entries must be 1-%d letters, digits, '.', '_', '-' or ':'", maxFeature)
		}
	}
	for _, raw := range []*json.RawMessage{&e.OpenAPI, &e.UI} {
		if t := bytes.TrimSpace(*raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			*raw = nil
		}
	}
	e.Features = slices.Compact(slices.Sorted(slices.Values(e.Features)))
	if e.Features == nil {
		e.Features = []string{}
	}
	for _, err := range []error{
		validText("name", e.Name, maxName, true),
		validText("description", e.Description, maxDescription, false),
		validText("version", e.Version, maxVersion, false),
		validObject("openapi", e.OpenAPI, maxDoc),
		validObject("ui", e.UI, maxUI),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// hasDotSegment reports whether a slash-separated path has a "." or ".."
// segment, also once more percent-decoded, so that an upstream which
// decodes a second time cannot be walked out of its base path either.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
		if strings.Contains(seg, "%") {
			if d, err := url.PathUnescape(seg); err == nil && (d == "." || d == ".." || strings.ContainsAny(d, "/\\")) {
				return true
			}
		}
		if strings.Contains(seg, "\\") || strings.Contains(seg, "\x00") {
			return true
		}
	}
	return false
}

// EventType says what happened to an extension.
type EventType string

// The event types.
const (
	EventRegistered   EventType = "registered"
	EventUpdated      EventType = "updated"
	EventDeregistered EventType = "deregistered"
	// EventStatus is a change of Status found by a health check.
	EventStatus EventType = "status"
	// The bundle events name the bundle's Version.
	EventBundlePublished EventType = "bundle_published"
	EventBundleActivated EventType = "bundle_activated"
	EventBundleDeleted   EventType = "bundle_deleted"
)

// Registration reports whether t changes a registration: registered,
// updated or deregistered.
func (t EventType) Registration() bool {
	return t == EventRegistered || t == EventUpdated || t == EventDeregistered
}

// Event tells subscribers of a change to the registry.
type Event struct {
	Type   EventType `json:"type"`
	Prefix string    `json:"prefix"`
	Status Status    `json:"status"`
	// Previous is the status before an EventStatus.
	Previous Status `json:"previous,omitempty"`
	// Version is the bundle version of a bundle event.
	Version string    `json:"version,omitempty"`
	At      time.Time `json:"at"`
}
