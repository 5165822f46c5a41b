package apikey

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/httpapi"
)

// errorStatus maps an error to its HTTP status, machine code and public
// message: the one place apikey's errors meet HTTP. A refused key has the
// codes auth's middleware gives it (token_revoked, token_expired,
// invalid_token), so a client sees one code whichever layer refused.
func errorStatus(err error) (status int, code, msg string) {
	var (
		decodeErr  *httpapi.DecodeError
		invalidErr *InvalidError
	)
	switch {
	case errors.As(err, &decodeErr):
		return decodeErr.Status, decodeErr.Code, decodeErr.Msg
	case errors.As(err, &invalidErr):
		return http.StatusBadRequest, "invalid_field", invalidErr.Field + " " + invalidErr.Reason
	case errors.Is(err, auth.ErrNoCredentials):
		return http.StatusUnauthorized, "missing_credentials", "authentication required"
	case errors.Is(err, ErrRevoked):
		return http.StatusUnauthorized, "token_revoked", "API key revoked"
	case errors.Is(err, ErrExpired):
		return http.StatusUnauthorized, "token_expired", "API key expired"
	case errors.Is(err, ErrInvalidKey):
		return http.StatusUnauthorized, "invalid_token", "invalid API key"
	case errors.Is(err, auth.ErrClientDisabled):
		return http.StatusForbidden, "client_disabled", "client is disabled"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden", strings.TrimPrefix(err.Error(), "apikey: ")
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found", "not found"
	case errors.Is(err, ErrNATSDisabled):
		return http.StatusNotFound, "nats_disabled", "NATS credentials are not configured"
	case errors.Is(err, ErrExists):
		return http.StatusConflict, "conflict", "already exists"
	}
	return http.StatusInternalServerError, "internal", "internal server error"
}

func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := errorStatus(err)
	httpapi.Fail(w, r, s.log, status, code, msg, err)
}

// Handler serves key management and the NATS exchange, relative to where
// the host mounts it, behind an authentication middleware that puts an
// auth.Principal in the context (auth.Service.Middleware with this Service
// among its Authenticators):
//
//	POST   /keys                 create a key; the answer holds its secret, once
//	GET    /keys                 the caller's keys (paged); ?all=true or
//	                             ?client_id= for an administrator
//	GET    /key/{id}             one key
//	PUT    /key/{id}             change name, notes, expires_at, pub, sub
//	DELETE /key/{id}             delete a key (its credentials are revoked)
//	POST   /key/{id}/revoke      revoke a key
//	POST   /key/{id}/reactivate  reactivate a revoked key
//	GET    /apikey               exchange the calling API key for NATS
//	                             credentials {jwt, seed, id, account};
//	                             ?creds=true adds the .creds file as "creds"
//
// Keys are managed with tokens only: a request authenticated by an API key
// may exchange it, nothing else.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /keys", s.handleCreate)
	mux.HandleFunc("GET /keys", s.handleList)
	mux.HandleFunc("GET /key/{id}", s.keyAction(s.Get))
	mux.HandleFunc("PUT /key/{id}", s.handleUpdate)
	mux.HandleFunc("DELETE /key/{id}", s.handleDelete)
	mux.HandleFunc("POST /key/{id}/revoke", s.keyAction(s.Revoke))
	mux.HandleFunc("POST /key/{id}/reactivate", s.keyAction(s.Reactivate))
	mux.HandleFunc("GET /apikey", s.handleExchange)
	return httpapi.Mux(mux)
}

// caller returns the request's Principal or answers 401.
func (s *Service) caller(w http.ResponseWriter, r *http.Request) (auth.Principal, bool) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		s.fail(w, r, auth.ErrNoCredentials)
	}
	return p, ok
}

type createBody struct {
	ClientID   string     `json:"client_id"`
	Name       string     `json:"name"`
	Notes      string     `json:"notes"`
	Identifier string     `json:"identifier"`
	ExpiresAt  time.Time  `json:"expires_at"`
	Pub        Permission `json:"pub"`
	Sub        Permission `json:"sub"`
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	p, ok := s.caller(w, r)
	if !ok {
		return
	}
	var b createBody
	if err := httpapi.DecodeJSON(w, r, &b, s.cfg.MaxBodyBytes); err != nil {
		s.fail(w, r, err)
		return
	}
	k, token, err := s.Create(r.Context(), p, NewKey{
		ClientID: b.ClientID, Name: b.Name, Notes: b.Notes, Identifier: b.Identifier,
		ExpiresAt: b.ExpiresAt, Pub: b.Pub, Sub: b.Sub,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusCreated, struct {
		Key
		Token string `json:"token"`
	}{k, token})
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	p, ok := s.caller(w, r)
	if !ok {
		return
	}
	page, err := httpapi.ParsePage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	all := q.Get("all") == "true"
	keys, total, err := s.List(r.Context(), p, KeyFilter{ClientID: q.Get("client_id"), Limit: page.Limit, Offset: page.Offset}, all)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.SetPageHeaders(w, r, page, total)
	if keys == nil {
		keys = []Key{}
	}
	httpapi.WriteJSON(w, http.StatusOK, keys)
}

// keyAction serves a route that acts on the key in the path and answers
// with it.
func (s *Service) keyAction(act func(ctx context.Context, by auth.Principal, id string) (Key, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.caller(w, r)
		if !ok {
			return
		}
		k, err := act(r.Context(), p, r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, k)
	}
}

func (s *Service) handleUpdate(w http.ResponseWriter, r *http.Request) {
	s.keyAction(func(ctx context.Context, p auth.Principal, id string) (Key, error) {
		var b struct {
			Name      *string     `json:"name"`
			Notes     *string     `json:"notes"`
			ExpiresAt *time.Time  `json:"expires_at"`
			Pub       *Permission `json:"pub"`
			Sub       *Permission `json:"sub"`
		}
		if err := httpapi.DecodeJSON(w, r, &b, s.cfg.MaxBodyBytes); err != nil {
			return Key{}, err
		}
		return s.Update(ctx, p, id, KeyUpdate{Name: b.Name, Notes: b.Notes, ExpiresAt: b.ExpiresAt, Pub: b.Pub, Sub: b.Sub})
	})(w, r)
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) {
	p, ok := s.caller(w, r)
	if !ok {
		return
	}
	if err := s.Delete(r.Context(), p, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleExchange(w http.ResponseWriter, r *http.Request) {
	p, ok := s.caller(w, r)
	if !ok {
		return
	}
	c, err := s.Exchange(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Credentials
		Creds string `json:"creds,omitempty"`
	}{Credentials: c}
	if r.URL.Query().Get("creds") == "true" {
		b, err := c.Creds()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out.Creds = string(b)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusOK, out)
}
