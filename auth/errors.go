package auth

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Callers branch on them with errors.Is; the HTTP handlers
// map them to status codes in one place (see writeError).
var (
	// ErrNoCredentials means the request carries no credentials the
	// authenticator recognises; the next authenticator in a chain is asked.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrInvalidToken covers every token that fails verification: malformed,
	// oversized, wrong algorithm or type, unknown key, bad signature, wrong
	// issuer or audience, missing exp.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrExpired is a token past its exp (or not yet valid by nbf).
	ErrExpired = errors.New("auth: token expired")
	// ErrRevoked is a well-signed token whose token DB record is gone:
	// revoked, logged out, its client disabled or deleted, or purged.
	ErrRevoked = errors.New("auth: token revoked")
	// ErrNotFound is an unknown token id, client id or record.
	ErrNotFound = errors.New("auth: not found")
	// ErrExists is a create of something that already exists.
	ErrExists = errors.New("auth: already exists")
	// ErrInvalidCredentials is a failed login. It does not say whether the
	// username or the password was wrong.
	ErrInvalidCredentials = errors.New("auth: invalid username or password")
	// ErrMFARequired is a login with the right password for a client with MFA
	// enabled but without a code.
	ErrMFARequired = errors.New("auth: MFA code required")
	// ErrInvalidMFA is a wrong, stale or replayed one-time code.
	ErrInvalidMFA = errors.New("auth: invalid MFA code")
	// ErrClientDisabled is a login or refresh by a disabled client.
	ErrClientDisabled = errors.New("auth: client disabled")
	// ErrForbidden is an authenticated caller asking for more than it holds.
	ErrForbidden = errors.New("auth: forbidden")
	// ErrRefreshReused is a spent refresh token presented again after the
	// grace window; the whole token family has been revoked.
	ErrRefreshReused = errors.New("auth: refresh token reused")
	// ErrRegistrationClosed is a self-registration while it is disabled.
	ErrRegistrationClosed = errors.New("auth: self-registration is disabled")
	// ErrOIDCDisabled is an ID-token exchange with no OIDC issuer configured.
	ErrOIDCDisabled = errors.New("auth: external OIDC login is not configured")
)

// InvalidError is input that breaks a rule, naming the field and the rule.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return "auth: " + e.Field + " " + e.Reason }

func invalid(field, reason string) error { return &InvalidError{Field: field, Reason: reason} }

// TooManyAttemptsError is a login refused by the brute-force guard.
type TooManyAttemptsError struct {
	// RetryAfter is how long until the next attempt is accepted.
	RetryAfter time.Duration
}

func (e *TooManyAttemptsError) Error() string {
	return fmt.Sprintf("auth: too many failed logins, retry in %s", e.RetryAfter.Round(time.Second))
}

// tokenError wraps a verification failure: Is reports the sentinel, Error
// keeps the underlying reason for logs. The reason never reaches a client.
type tokenError struct {
	kind   error
	reason error
}

func (e *tokenError) Error() string {
	if e.reason == nil {
		return e.kind.Error()
	}
	return e.kind.Error() + ": " + e.reason.Error()
}

func (e *tokenError) Unwrap() error { return e.kind }

func tokenErr(kind, reason error) error { return &tokenError{kind: kind, reason: reason} }
