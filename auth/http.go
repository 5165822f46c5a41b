package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-dev/portico/internal/httpapi"
)

// errorStatus maps an error to its HTTP status, machine code and public
// message. It is the one place auth's errors meet HTTP.
func errorStatus(err error) (status int, code, msg string) {
	var (
		decodeErr  *httpapi.DecodeError
		invalidErr *InvalidError
		manyErr    *TooManyAttemptsError
	)
	switch {
	case errors.As(err, &decodeErr):
		return decodeErr.Status, decodeErr.Code, decodeErr.Msg
	case errors.As(err, &invalidErr):
		return http.StatusBadRequest, "invalid_field", invalidErr.Field + " " + invalidErr.Reason
	case errors.As(err, &manyErr):
		return http.StatusTooManyRequests, "too_many_attempts", "too many failed logins; try again later"
	case errors.Is(err, ErrNoCredentials):
		return http.StatusUnauthorized, "missing_credentials", "authentication required"
	case errors.Is(err, ErrExpired):
		return http.StatusUnauthorized, "token_expired", "token expired"
	case errors.Is(err, ErrRevoked):
		return http.StatusUnauthorized, "token_revoked", "token revoked"
	case errors.Is(err, ErrInvalidToken):
		return http.StatusUnauthorized, "invalid_token", "invalid token"
	case errors.Is(err, ErrRefreshReused):
		return http.StatusUnauthorized, "refresh_reused", "refresh token already used; the session has been revoked"
	case errors.Is(err, ErrInvalidCredentials):
		return http.StatusUnauthorized, "invalid_credentials", "invalid username or password"
	case errors.Is(err, ErrMFARequired):
		return http.StatusUnauthorized, "mfa_required", "an MFA code is required"
	case errors.Is(err, ErrInvalidMFA):
		return http.StatusUnauthorized, "invalid_mfa", "invalid MFA code"
	case errors.Is(err, ErrClientDisabled):
		return http.StatusForbidden, "client_disabled", "client is disabled"
	case errors.Is(err, ErrRegistrationClosed):
		return http.StatusForbidden, "registration_closed", "self-registration is disabled"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden", publicMessage(err)
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found", "not found"
	case errors.Is(err, ErrExists):
		return http.StatusConflict, "conflict", "already exists"
	case errors.Is(err, ErrOIDCDisabled):
		return http.StatusNotFound, "oidc_disabled", "external OIDC login is not configured"
	}
	return http.StatusInternalServerError, "internal", "internal server error"
}

// publicMessage is a message built by this package, without its prefix.
func publicMessage(err error) string { return strings.TrimPrefix(err.Error(), "auth: ") }

// writeError answers with err's status and JSON body; 401 carries a Bearer
// challenge (RFC 6750) and 429 a Retry-After.
func writeError(w http.ResponseWriter, err error) {
	status, code, msg := errorStatus(err)
	switch status {
	case http.StatusUnauthorized:
		challenge := `Bearer realm="portico"`
		if code != "missing_credentials" && code != "invalid_credentials" && code != "mfa_required" && code != "invalid_mfa" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	case http.StatusTooManyRequests:
		var manyErr *TooManyAttemptsError
		if errors.As(err, &manyErr) {
			w.Header().Set("Retry-After", strconv.Itoa(int(manyErr.RetryAfter.Seconds()+0.999)))
		}
	}
	httpapi.WriteError(w, status, code, msg)
}

// fail answers with err and logs what the client is not told.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	if status, _, _ := errorStatus(err); status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "auth: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, err)
}
