package apikey

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/portico-dev/portico/auth"
)

// Errors returned by the package. Those an authentication can end in wrap
// auth's sentinels, so auth's middleware answers them as it answers a bad
// token (401 with a challenge).
var (
	ErrNotFound = errors.New("apikey: not found")
	ErrExists   = errors.New("apikey: already exists")
	// ErrInvalidKey is a malformed, unknown or wrong API key.
	ErrInvalidKey = fmt.Errorf("apikey: invalid API key: %w", auth.ErrInvalidToken)
	// ErrRevoked is a revoked key.
	ErrRevoked = fmt.Errorf("apikey: API key revoked: %w", auth.ErrRevoked)
	// ErrExpired is a key past its expiry.
	ErrExpired = fmt.Errorf("apikey: API key expired: %w", auth.ErrExpired)
	// ErrForbidden refuses an action the caller may not take.
	ErrForbidden = errors.New("apikey: forbidden")
	// ErrNATSDisabled means no account key is configured, so keys cannot be
	// exchanged for NATS credentials.
	ErrNATSDisabled = errors.New("apikey: NATS credentials are not configured")
)

// InvalidError reports a malformed field of a request.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return "apikey: " + e.Field + " " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// forbidden is ErrForbidden with the reason the caller is shown.
func forbidden(reason string) error { return fmt.Errorf("%w: %s", ErrForbidden, reason) }

// Permission is a NATS allow and deny list of subjects (wildcards allowed).
type Permission struct {
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
}

func (p Permission) clone() Permission {
	return Permission{Allow: slices.Clone(p.Allow), Deny: slices.Clone(p.Deny)}
}

// Key is an API key as stored: everything but the secret, of which only a
// hash is kept.
type Key struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"` // the owner, whose identity the key carries
	Name     string `json:"name"`
	Notes    string `json:"notes"`
	// Identifier names the extension the key belongs to, if any.
	Identifier string     `json:"identifier,omitempty"`
	Pub        Permission `json:"pub"`
	Sub        Permission `json:"sub"`
	ExpiresAt  time.Time  `json:"expires_at,omitzero"` // zero: never
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	UpdatedAt  time.Time  `json:"updated_at"`
	Revoked    bool       `json:"revoked"`
	RevokedAt  time.Time  `json:"revoked_at,omitzero"`
	LastUsedAt time.Time  `json:"last_used_at,omitzero"`
	LastUsedIP string     `json:"last_used_ip,omitempty"`
	// Hash is the SHA-256 of the key's secret.
	Hash []byte `json:"-"`
}

func (k Key) clone() Key {
	k.Pub, k.Sub = k.Pub.clone(), k.Sub.clone()
	k.Hash = slices.Clone(k.Hash)
	return k
}

// Credential records NATS credentials issued for a key: the user public
// key its JWT names, so revoking the key can revoke the JWT.
type Credential struct {
	UserKey   string
	KeyID     string
	IssuedAt  time.Time
	ExpiresAt time.Time
	RevokedAt time.Time // zero: not revoked
}

// Credentials are NATS credentials for an API key: a user JWT signed by the
// account, and the user's nkey seed. Seed is a secret.
type Credentials struct {
	JWT       string    `json:"jwt"`
	Seed      string    `json:"seed"`
	ID        string    `json:"id"`      // the API key's id
	Account   string    `json:"account"` // the account's public key
	UserKey   string    `json:"user"`    // the user's public key
	ExpiresAt time.Time `json:"expires_at"`
}
