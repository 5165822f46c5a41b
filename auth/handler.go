package auth

import (
	"errors"
	"net/http"
	"time"

	"github.com/portico-dev/portico/internal/httpapi"
)

// Handler serves every auth route of DESIGN.md, relative to where it is
// mounted (the example server mounts it under /api/v1):
//
//	GET  /auth/status, /auth/jwks                    public
//	POST /auth/login, /auth/refresh                   public
//	POST /auth/clients/register                       public, when Config.SelfRegister
//	GET  /usertoken                                   an external OIDC ID token as bearer
//	GET  /auth, /userinfo                             the caller
//	DELETE /auth, POST /auth/logout                   revoke the caller's session
//	GET|POST|DELETE /auth/tokens                      own tokens: list, mint, revoke all
//	GET|DELETE /auth/tokens/{tid}                     owner or administrator
//	GET|DELETE /auth/tokens/all, POST /auth/tokens/cleanup    administrator
//	GET|POST /auth/clients                            own client: read, update name or password
//	POST /auth/mfa, /auth/mfa/confirm, /auth/mfa/disable      own MFA enrolment
//	GET /auth/clients/{id}                            self or administrator
//	POST /auth/clients/create, GET /auth/clients/all,
//	POST|DELETE /auth/clients/{id}, DELETE /auth/clients/{id}/roles,
//	POST|DELETE /auth/clients/{id}/roles/{role}, DELETE /auth/clients/{id}/mfa,
//	POST /auth/clients/{id}/enable, /auth/clients/{id}/disable      administrator
//
// Mount it under a prefix with http.StripPrefix. Unknown routes and
// methods get JSON 404 and 405 answers.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.withIP(h)) }
	authed := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.withIP(s.Middleware(h))) }
	admin := func(pattern string, h http.HandlerFunc) { authed(pattern, s.adminOnly(h)) }

	handle("GET /auth/status", s.handleStatus)
	mux.Handle("GET /auth/jwks", s.keys.JWKSHandler(s.now))
	handle("POST /auth/login", s.handleLogin)
	handle("POST /auth/refresh", s.handleRefresh)
	handle("POST /auth/clients/register", s.handleRegister)
	handle("GET /usertoken", s.handleUserToken)

	authed("GET /auth", s.handleWhoami)
	authed("GET /userinfo", s.handleUserinfo)
	authed("DELETE /auth", s.handleLogout)
	authed("POST /auth/logout", s.handleLogout)
	authed("GET /auth/tokens", s.handleListTokens(false))
	authed("POST /auth/tokens", s.handleMint)
	authed("DELETE /auth/tokens", s.handleRevokeOwn)
	authed("GET /auth/tokens/{tid}", s.handleGetToken)
	authed("DELETE /auth/tokens/{tid}", s.handleRevokeToken)
	authed("GET /auth/clients", s.handleGetSelf)
	authed("POST /auth/clients", s.handleUpdateSelf)
	authed("POST /auth/mfa", s.handleBeginMFA)
	authed("POST /auth/mfa/confirm", s.handleConfirmMFA)
	authed("POST /auth/mfa/disable", s.handleDisableMFA)
	authed("GET /auth/clients/{id}", s.handleGetClient)

	admin("GET /auth/tokens/all", s.handleListTokens(true))
	admin("DELETE /auth/tokens/all", s.handleRevokeAll)
	admin("POST /auth/tokens/cleanup", s.handleCleanup)
	admin("POST /auth/clients/create", s.handleCreateClient)
	admin("GET /auth/clients/all", s.handleListClients)
	admin("POST /auth/clients/{id}", s.handleUpdateClient)
	admin("DELETE /auth/clients/{id}", s.handleDeleteClient)
	admin("DELETE /auth/clients/{id}/roles", s.clientAction(func(r *http.Request, id string) (Client, error) {
		return s.ClearRoles(r.Context(), id)
	}))
	admin("POST /auth/clients/{id}/roles/{role}", s.clientAction(func(r *http.Request, id string) (Client, error) {
		return s.AddRole(r.Context(), id, r.PathValue("role"))
	}))
	admin("DELETE /auth/clients/{id}/roles/{role}", s.clientAction(func(r *http.Request, id string) (Client, error) {
		return s.RemoveRole(r.Context(), id, r.PathValue("role"))
	}))
	admin("POST /auth/clients/{id}/enable", s.clientAction(func(r *http.Request, id string) (Client, error) {
		return s.SetEnabled(r.Context(), id, true)
	}))
	admin("POST /auth/clients/{id}/disable", s.clientAction(func(r *http.Request, id string) (Client, error) {
		return s.SetEnabled(r.Context(), id, false)
	}))
	admin("DELETE /auth/clients/{id}/mfa", s.handleResetMFA)
	return httpapi.Mux(mux)
}

// withIP keeps the caller's IP in the context for audit events.
func (s *Service) withIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(withRemoteIP(r.Context(), s.cfg.ClientIP(r))))
	})
}

func (s *Service) adminOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		if !s.IsAdmin(r.Context(), p) {
			writeError(w, ErrForbidden)
			return
		}
		next(w, r)
	}
}

func principal(r *http.Request) Principal {
	p, _ := FromContext(r.Context()) // present: every caller is behind Middleware
	return p
}

func (s *Service) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := httpapi.DecodeJSON(w, r, v, s.cfg.MaxBodyBytes); err != nil {
		writeError(w, err)
		return false
	}
	return true
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"enabled":       true,
		"issuer":        s.cfg.Issuer,
		"self_register": s.cfg.SelfRegister,
		"oidc":          s.oidc != nil,
		"mfa":           true,
		"access_ttl":    int(s.cfg.AccessTTL.Seconds()),
		"refresh":       s.cfg.RefreshTTL > 0,
	})
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
		MFACode  string `json:"mfa_code"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if body.Username == "" || body.Password == "" {
		writeError(w, invalid("username and password", "are required"))
		return
	}
	g, err := s.Login(r.Context(), Credentials{Username: body.Username, Password: body.Password, MFACode: body.MFACode, RemoteIP: s.cfg.ClientIP(r)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, g)
}

func (s *Service) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if body.RefreshToken == "" {
		writeError(w, invalid("refresh_token", "is required"))
		return
	}
	g, err := s.Refresh(r.Context(), body.RefreshToken)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, g)
}

func (s *Service) handleUserToken(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		writeError(w, ErrOIDCDisabled)
		return
	}
	tok, ok := BearerToken(r)
	if !ok {
		writeError(w, ErrNoCredentials)
		return
	}
	g, err := s.ExchangeIDToken(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, g)
}

// whoami is the caller as GET /auth and GET /userinfo show it.
type whoami struct {
	Principal
	Name      string       `json:"name,omitempty"`
	TokenData *TokenRecord `json:"token_data,omitempty"`
}

func (s *Service) whoami(r *http.Request) (whoami, error) {
	p := principal(r)
	out := whoami{Principal: p}
	out.Roles, out.Groups = nonNil(p.Roles), nonNil(p.Groups)
	if c, err := s.store.GetClient(r.Context(), p.ClientID); err == nil {
		out.Name = c.Name
	} else if !errors.Is(err, ErrNotFound) {
		return out, err
	}
	if p.Kind == KindToken {
		rec, err := s.store.GetToken(r.Context(), p.TokenID)
		if err != nil {
			return out, err
		}
		out.TokenData = &rec
	}
	return out, nil
}

func (s *Service) handleWhoami(w http.ResponseWriter, r *http.Request) {
	out, err := s.whoami(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	out, err := s.whoami(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out.TokenData = nil
	httpapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.Logout(r.Context(), principal(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleListTokens(all bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		page, err := httpapi.ParsePage(r)
		if err != nil {
			writeError(w, err)
			return
		}
		f := TokenFilter{ClientID: principal(r).ClientID, Limit: page.Limit, Offset: page.Offset}
		if all {
			f.ClientID = r.URL.Query().Get("client_id")
		}
		recs, total, err := s.store.ListTokens(r.Context(), f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		httpapi.SetPageHeaders(w, r, page, total)
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tokens": recs, "total": total})
	}
}

func (s *Service) handleMint(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ClientID  string   `json:"client_id"`
		Roles     []string `json:"roles"`
		TokenLife int64    `json:"token_life"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if body.TokenLife < 0 || body.TokenLife > int64(100*365*24*time.Hour/time.Second) {
		writeError(w, invalid("token_life", "must be a positive number of seconds"))
		return
	}
	g, err := s.Mint(r.Context(), principal(r), MintRequest{ClientID: body.ClientID, Roles: body.Roles, Life: time.Duration(body.TokenLife) * time.Second})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, g)
}

func (s *Service) handleRevokeOwn(w http.ResponseWriter, r *http.Request) {
	s.revoke(w, r, TokenFilter{ClientID: principal(r).ClientID})
}

func (s *Service) handleRevokeAll(w http.ResponseWriter, r *http.Request) {
	s.revoke(w, r, TokenFilter{})
}

func (s *Service) revoke(w http.ResponseWriter, r *http.Request, f TokenFilter) {
	n, err := s.Revoke(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

func (s *Service) handleCleanup(w http.ResponseWriter, r *http.Request) {
	n, err := s.Cleanup(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]int{"removed": n})
}

// ownToken returns the token record {tid} if the caller owns it or is an
// administrator; anyone else gets ErrNotFound, so token ids cannot be probed.
func (s *Service) ownToken(r *http.Request) (TokenRecord, error) {
	rec, err := s.store.GetToken(r.Context(), r.PathValue("tid"))
	if err != nil {
		return TokenRecord{}, err
	}
	if p := principal(r); rec.ClientID != p.ClientID && !s.IsAdmin(r.Context(), p) {
		return TokenRecord{}, ErrNotFound
	}
	return rec, nil
}

func (s *Service) handleGetToken(w http.ResponseWriter, r *http.Request) {
	rec, err := s.ownToken(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, rec)
}

func (s *Service) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	rec, err := s.ownToken(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.revoke(w, r, TokenFilter{TokenID: rec.TokenID})
}

func (s *Service) handleGetSelf(w http.ResponseWriter, r *http.Request) {
	c, err := s.store.GetClient(r.Context(), principal(r).ClientID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c)
}

func (s *Service) handleUpdateSelf(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name            *string `json:"name"`
		Password        *string `json:"password"`
		CurrentPassword string  `json:"current_password"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	id := principal(r).ClientID
	if body.Password != nil {
		if err := s.ChangePassword(r.Context(), id, body.CurrentPassword, *body.Password); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	c, err := s.UpdateClient(r.Context(), id, ClientUpdate{Name: body.Name})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c)
}

func (s *Service) handleBeginMFA(w http.ResponseWriter, r *http.Request) {
	e, err := s.BeginMFA(r.Context(), principal(r).ClientID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, e)
}

type mfaBody struct {
	Code string `json:"code"`
}

func (s *Service) handleConfirmMFA(w http.ResponseWriter, r *http.Request) {
	var body mfaBody
	if !s.decode(w, r, &body) {
		return
	}
	if err := s.ConfirmMFA(r.Context(), principal(r).ClientID, body.Code); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleDisableMFA(w http.ResponseWriter, r *http.Request) {
	var body mfaBody
	if !s.decode(w, r, &body) {
		return
	}
	if err := s.DisableMFA(r.Context(), principal(r).ClientID, body.Code, false); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleResetMFA(w http.ResponseWriter, r *http.Request) {
	if err := s.DisableMFA(r.Context(), r.PathValue("id"), "", true); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleGetClient(w http.ResponseWriter, r *http.Request) {
	id, p := r.PathValue("id"), principal(r)
	if id != p.ClientID && !s.IsAdmin(r.Context(), p) {
		writeError(w, ErrNotFound) // no probing for client ids
		return
	}
	c, err := s.store.GetClient(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c)
}

// clientBody is the JSON of a client create, register or update.
type clientBody struct {
	ID       string    `json:"client_id"`
	Name     *string   `json:"name"`
	Password *string   `json:"password"`
	Roles    *[]string `json:"roles"`
	Groups   *[]string `json:"groups"`
	Enabled  *bool     `json:"enabled"`
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (s *Service) handleCreateClient(w http.ResponseWriter, r *http.Request) {
	var body clientBody
	if !s.decode(w, r, &body) {
		return
	}
	c, err := s.CreateClient(r.Context(), NewClient{
		ID: body.ID, Name: deref(body.Name), Password: deref(body.Password),
		Roles: deref(body.Roles), Groups: deref(body.Groups), Disabled: body.Enabled != nil && !*body.Enabled,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, c)
}

func (s *Service) handleRegister(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.SelfRegister {
		writeError(w, ErrRegistrationClosed)
		return
	}
	var body struct {
		ID       string `json:"client_id"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	c, err := s.Register(r.Context(), body.ID, body.Name, body.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, c)
}

func (s *Service) handleListClients(w http.ResponseWriter, r *http.Request) {
	page, err := httpapi.ParsePage(r)
	if err != nil {
		writeError(w, err)
		return
	}
	cs, total, err := s.store.ListClients(r.Context(), ClientFilter{Role: r.URL.Query().Get("role"), Limit: page.Limit, Offset: page.Offset})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.SetPageHeaders(w, r, page, total)
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"clients": cs, "total": total})
}

func (s *Service) handleUpdateClient(w http.ResponseWriter, r *http.Request) {
	var body clientBody
	if !s.decode(w, r, &body) {
		return
	}
	id := r.PathValue("id")
	if body.ID != "" && body.ID != id {
		writeError(w, invalid("client_id", "cannot be changed"))
		return
	}
	c, err := s.UpdateClient(r.Context(), id, ClientUpdate{Name: body.Name, Roles: body.Roles, Groups: body.Groups, Password: body.Password, Enabled: body.Enabled})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c)
}

func (s *Service) handleDeleteClient(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteClient(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// clientAction serves a route that changes client {id} and answers with it.
func (s *Service) clientAction(act func(r *http.Request, id string) (Client, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := act(r, r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, c)
	}
}
