package auth

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Client ids and role names: 1 to 64 characters from a conservative set,
// so they are safe in URLs, logs and SQL. These words are route names and
// cannot be client ids.
const maxNameLen = 64

var reservedIDs = []string{"all", "create", "register"}

func validateID(field, id string) error {
	if id == "" || len(id) > maxNameLen {
		return invalid(field, fmt.Sprintf("must be 1 to %d characters", maxNameLen))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '@' || c == ':') {
			return invalid(field, "may hold only letters, digits and - _ . @ :")
		}
	}
	return nil
}

func validateClientID(id string) error {
	if err := validateID("client_id", id); err != nil {
		return err
	}
	if slices.Contains(reservedIDs, id) {
		return invalid("client_id", fmt.Sprintf("%q is reserved", id))
	}
	return nil
}

func validateRoles(field string, roles []string) error {
	for _, r := range roles {
		if err := validateID(field, r); err != nil {
			return fmt.Errorf("%w (role %q)", err, r)
		}
	}
	return nil
}

func validatePassword(pw string) error {
	if len(pw) < minPasswordLen || len(pw) > maxPasswordLen {
		return invalid("password", fmt.Sprintf("must be %d to %d bytes", minPasswordLen, maxPasswordLen))
	}
	return nil
}

// MarshalJSON writes the client's public fields only; the password hash and
// MFA secrets never leave the process this way.
func (c Client) MarshalJSON() ([]byte, error) {
	var last *time.Time
	if !c.LastLogin.IsZero() {
		last = &c.LastLogin
	}
	return json.Marshal(struct {
		ID        string     `json:"client_id"`
		Name      string     `json:"name"`
		Roles     []string   `json:"roles"`
		Groups    []string   `json:"groups"`
		Enabled   bool       `json:"enabled"`
		MFA       bool       `json:"mfa"`
		CreatedAt time.Time  `json:"created_at"`
		LastLogin *time.Time `json:"last_login"`
	}{c.ID, c.Name, nonNil(c.Roles), nonNil(c.Groups), c.Enabled, c.MFASecret != "", c.CreatedAt, last})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// NewClient describes a client to create.
type NewClient struct {
	ID       string
	Name     string
	Password string // empty: the client cannot log in with a password
	Roles    []string
	Groups   []string
	Disabled bool
}

// CreateClient creates a client (an administrator's act; the handlers check
// that). ErrExists if the id is taken.
func (s *Service) CreateClient(ctx context.Context, nc NewClient) (Client, error) {
	c, err := s.newClient(nc)
	if err == nil {
		err = s.store.CreateClient(ctx, c)
	}
	s.audit(ctx, "client.create", nc.ID, err, "")
	if err != nil {
		return Client{}, err
	}
	return c, nil
}

// Register creates a client for an anonymous caller, with
// Config.RegisterRoles and no groups. ErrRegistrationClosed unless
// Config.SelfRegister.
func (s *Service) Register(ctx context.Context, id, name, password string) (Client, error) {
	if !s.cfg.SelfRegister {
		return Client{}, ErrRegistrationClosed
	}
	if err := validatePassword(password); err != nil {
		return Client{}, err
	}
	c, err := s.newClient(NewClient{ID: id, Name: name, Password: password, Roles: s.cfg.RegisterRoles})
	if err == nil {
		err = s.store.CreateClient(ctx, c)
	}
	s.audit(ctx, "client.register", id, err, "")
	if err != nil {
		return Client{}, err
	}
	return c, nil
}

func (s *Service) newClient(nc NewClient) (Client, error) {
	if err := validateClientID(nc.ID); err != nil {
		return Client{}, err
	}
	if len(nc.Name) > 256 {
		return Client{}, invalid("name", "must be at most 256 characters")
	}
	if err := validateRoles("roles", nc.Roles); err != nil {
		return Client{}, err
	}
	if err := validateRoles("groups", nc.Groups); err != nil {
		return Client{}, err
	}
	c := Client{
		ID:        nc.ID,
		Name:      cmp.Or(nc.Name, nc.ID),
		Roles:     dedupe(nonNil(nc.Roles)),
		Groups:    dedupe(nonNil(nc.Groups)),
		Enabled:   !nc.Disabled,
		CreatedAt: s.now().UTC().Truncate(time.Second),
	}
	if nc.Password != "" {
		if err := validatePassword(nc.Password); err != nil {
			return Client{}, err
		}
		h, err := s.cfg.Passwords.Hash(nc.Password)
		if err != nil {
			return Client{}, fmt.Errorf("auth: hash password: %w", err)
		}
		c.PasswordHash = h
	}
	return c, nil
}

// GetClient returns a client; ErrNotFound if there is none.
func (s *Service) GetClient(ctx context.Context, id string) (Client, error) {
	return s.store.GetClient(ctx, id)
}

// ListClients lists clients, optionally only those holding f.Role.
func (s *Service) ListClients(ctx context.Context, f ClientFilter) ([]Client, int, error) {
	return s.store.ListClients(ctx, f)
}

// ClientUpdate changes a client; nil fields are left alone.
type ClientUpdate struct {
	Name     *string
	Roles    *[]string
	Groups   *[]string
	Password *string
	Enabled  *bool
}

// UpdateClient applies u. Disabling a client revokes its live tokens
// before returning.
func (s *Service) UpdateClient(ctx context.Context, id string, u ClientUpdate) (Client, error) {
	var hash string
	if u.Name != nil && len(*u.Name) > 256 {
		return Client{}, invalid("name", "must be at most 256 characters")
	}
	if u.Roles != nil {
		if err := validateRoles("roles", *u.Roles); err != nil {
			return Client{}, err
		}
	}
	if u.Groups != nil {
		if err := validateRoles("groups", *u.Groups); err != nil {
			return Client{}, err
		}
	}
	if u.Password != nil {
		if err := validatePassword(*u.Password); err != nil {
			return Client{}, err
		}
		h, err := s.cfg.Passwords.Hash(*u.Password)
		if err != nil {
			return Client{}, fmt.Errorf("auth: hash password: %w", err)
		}
		hash = h
	}
	c, err := s.store.UpdateClient(ctx, id, func(c *Client) error {
		if u.Name != nil {
			c.Name = *u.Name
		}
		if u.Roles != nil {
			c.Roles = dedupe(nonNil(*u.Roles))
		}
		if u.Groups != nil {
			c.Groups = dedupe(nonNil(*u.Groups))
		}
		if hash != "" {
			c.PasswordHash = hash
		}
		if u.Enabled != nil {
			c.Enabled = *u.Enabled
		}
		return nil
	})
	s.audit(ctx, "client.update", id, err, "")
	if err != nil {
		return Client{}, err
	}
	if u.Enabled != nil && !*u.Enabled {
		if _, err := s.Revoke(ctx, TokenFilter{ClientID: id}); err != nil {
			return Client{}, err
		}
	}
	return c, nil
}

// SetEnabled enables or disables a client. Disabling revokes every token
// and refresh token it holds before returning, so they fail on the next
// request.
func (s *Service) SetEnabled(ctx context.Context, id string, enabled bool) (Client, error) {
	return s.UpdateClient(ctx, id, ClientUpdate{Enabled: &enabled})
}

// AddRole gives a client a role.
func (s *Service) AddRole(ctx context.Context, id, role string) (Client, error) {
	if err := validateID("role", role); err != nil {
		return Client{}, err
	}
	return s.editRoles(ctx, id, func(roles []string) []string { return dedupe(append(roles, role)) })
}

// RemoveRole takes a role from a client. Tokens already issued keep the
// roles they were issued with until they expire or are revoked.
func (s *Service) RemoveRole(ctx context.Context, id, role string) (Client, error) {
	return s.editRoles(ctx, id, func(roles []string) []string {
		return slices.DeleteFunc(roles, func(r string) bool { return r == role })
	})
}

// ClearRoles takes every role from a client.
func (s *Service) ClearRoles(ctx context.Context, id string) (Client, error) {
	return s.editRoles(ctx, id, func([]string) []string { return []string{} })
}

func (s *Service) editRoles(ctx context.Context, id string, edit func([]string) []string) (Client, error) {
	c, err := s.store.UpdateClient(ctx, id, func(c *Client) error {
		c.Roles = nonNil(edit(c.Roles))
		return nil
	})
	s.audit(ctx, "client.roles", id, err, "")
	return c, err
}

// DeleteClient deletes a client and revokes everything it holds.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	err := s.store.DeleteClient(ctx, id)
	s.audit(ctx, "client.delete", id, err, "")
	if err != nil {
		return err
	}
	_, err = s.Revoke(ctx, TokenFilter{ClientID: id})
	return err
}

// ChangePassword sets a client's password after checking its current one,
// for a client changing its own. A client with no password yet passes an
// empty current password.
func (s *Service) ChangePassword(ctx context.Context, id, current, next string) error {
	if err := validatePassword(next); err != nil {
		return err
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return err
	}
	if c.PasswordHash != "" {
		ok, err := s.cfg.Passwords.Verify(c.PasswordHash, current)
		if err != nil {
			return fmt.Errorf("auth: password hash of %q: %w", id, err)
		}
		if !ok {
			return invalid("current_password", "is wrong")
		}
	}
	_, err = s.UpdateClient(ctx, id, ClientUpdate{Password: &next})
	return err
}

// MFAEnrollment is a TOTP secret being enrolled: show URI as a QR code, or
// Secret for typing into an authenticator app.
type MFAEnrollment struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

// BeginMFA starts TOTP enrolment for a client: a new secret is held pending
// until ConfirmMFA proves the app has it. MFA already enabled stays as it
// is until then.
func (s *Service) BeginMFA(ctx context.Context, id string) (MFAEnrollment, error) {
	secret := newTOTPSecret()
	_, err := s.store.UpdateClient(ctx, id, func(c *Client) error { c.MFAPending = secret; return nil })
	if err != nil {
		return MFAEnrollment{}, err
	}
	return MFAEnrollment{Secret: secret, URI: totpURI(s.cfg.MFAIssuer, id, secret)}, nil
}

// ConfirmMFA enables MFA with the pending secret if code is valid for it.
func (s *Service) ConfirmMFA(ctx context.Context, id, code string) error {
	now := s.now()
	_, err := s.store.UpdateClient(ctx, id, func(c *Client) error {
		if c.MFAPending == "" {
			return invalid("mfa", "has no enrolment pending; start one first")
		}
		step, ok := checkTOTP(c.MFAPending, code, now, 0)
		if !ok {
			return ErrInvalidMFA
		}
		c.MFASecret, c.MFAPending, c.MFALastStep = c.MFAPending, "", step
		return nil
	})
	s.audit(ctx, "mfa.enable", id, err, "")
	return err
}

// DisableMFA turns MFA off for a client. Unless force (an administrator's
// reset), code must be a valid current code.
func (s *Service) DisableMFA(ctx context.Context, id, code string, force bool) error {
	now := s.now()
	_, err := s.store.UpdateClient(ctx, id, func(c *Client) error {
		if c.MFASecret == "" {
			return invalid("mfa", "is not enabled")
		}
		if !force {
			if _, ok := checkTOTP(c.MFASecret, code, now, c.MFALastStep); !ok {
				return ErrInvalidMFA
			}
		}
		c.MFASecret, c.MFAPending, c.MFALastStep = "", "", 0
		return nil
	})
	s.audit(ctx, "mfa.disable", id, err, "")
	return err
}

// EnsureClient creates the client if it does not exist, for bootstrapping
// (an admin client at first start). It reports whether it created one.
func (s *Service) EnsureClient(ctx context.Context, nc NewClient) (bool, error) {
	_, err := s.store.GetClient(ctx, nc.ID)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if _, err := s.CreateClient(ctx, nc); err != nil {
		if errors.Is(err, ErrExists) { // another instance won the race
			return false, nil
		}
		return false, err
	}
	return true, nil
}
