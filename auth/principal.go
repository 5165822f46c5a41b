package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Kind says how a Principal authenticated.
type Kind string

// The kinds of Principal.
const (
	KindToken  Kind = "token"  // a Portico access token
	KindAPIKey Kind = "apikey" // an API key (package apikey)
)

// Principal is the authenticated caller of a request. Its slices are shared
// and must not be modified.
type Principal struct {
	// Subject is who the caller is for authorization and audit: the client
	// id for tokens, the owning client for API keys.
	Subject string `json:"subject"`
	// ClientID is the client the credentials belong to.
	ClientID string   `json:"client_id"`
	Roles    []string `json:"roles"`
	Groups   []string `json:"groups"`
	// TokenID is the token's tid, or the API key's id.
	TokenID string `json:"token_id"`
	Kind    Kind   `json:"kind"`
	// Requester is who minted the token (rcid); the same as ClientID for a
	// token got by logging in.
	Requester string `json:"requester,omitempty"`
	// Identifier is an API key's extension identifier, if it has one.
	Identifier string    `json:"identifier,omitempty"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// HasRole reports whether the principal holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, &p)
}

// FromContext returns the Principal the Authenticate middleware stored.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	if !ok {
		return Principal{}, false
	}
	return *p, true
}

// An Authenticator identifies the caller of a request. It returns
// ErrNoCredentials when the request carries nothing it recognises, so the
// next authenticator in a chain is asked; any other error refuses the
// request with 401.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (Principal, error)

// Authenticate implements Authenticator.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Principal, error) { return f(r) }

// maxAuthHeader bounds the Authorization header read; a longer one is
// refused before it is parsed.
const maxAuthHeader = 16 << 10

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header (scheme case-insensitive, RFC 6750). It reports false for a missing
// header, another scheme, an empty or oversized token, or a token with
// characters RFC 6750 does not allow.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 8 || len(h) > maxAuthHeader || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	tok := strings.TrimLeft(h[7:], " ")
	if tok == "" {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=') {
			return "", false
		}
	}
	return tok, true
}

// Authenticate returns middleware that identifies each request with the
// first authenticator in chain that recognises its credentials, and puts
// the Principal in the request context (see FromContext). A request with no
// credentials, or with credentials that fail, is answered 401 with a
// WWW-Authenticate challenge and a JSON body.
func Authenticate(chain ...Authenticator) func(http.Handler) http.Handler {
	fail := func(w http.ResponseWriter, _ *http.Request, err error) { writeError(w, err) }
	return func(next http.Handler) http.Handler { return authenticateWith(chain, fail, next) }
}

// authenticateWith is the middleware body Authenticate and
// Service.Middleware share; fail answers a refused request. A request
// already carrying a Principal (an outer authentication middleware ran) is
// passed through as it is, so nesting them costs no second verification.
func authenticateWith(chain []Authenticator, fail func(http.ResponseWriter, *http.Request, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Value(principalKey{}).(*Principal); ok {
			next.ServeHTTP(w, r)
			return
		}
		p, err := authenticate(chain, r)
		if err != nil {
			fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// authenticate asks each authenticator in turn. A *Service answers with
// the cached Principal itself, so a warm token costs no copy.
func authenticate(chain []Authenticator, r *http.Request) (*Principal, error) {
	for _, a := range chain {
		var p *Principal
		var err error
		if s, ok := a.(*Service); ok {
			p, err = s.authenticateBearer(r)
		} else {
			var v Principal
			v, err = a.Authenticate(r)
			p = &v
		}
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, ErrNoCredentials
}

// RequireRole returns middleware that lets a request through only if the
// Principal in its context holds at least one of roles: 401 without a
// Principal, 403 without the role. Mount it inside Authenticate.
func RequireRole(roles ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			if !ok {
				writeError(w, ErrNoCredentials)
				return
			}
			for _, role := range roles {
				if p.HasRole(role) {
					next.ServeHTTP(w, r)
					return
				}
			}
			writeError(w, ErrForbidden)
		})
	}
}
