package apikey

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/subject"
)

// Limits on what a key may hold.
const (
	maxNameLen    = 128
	maxNotesLen   = 4096
	maxSubjects   = 256
	maxIdentifier = 64
)

// NewKey is what Create takes.
type NewKey struct {
	// ClientID is the key's owner. Empty: the caller. Only an
	// administrator may create a key for another client.
	ClientID   string
	Name       string
	Notes      string
	Identifier string
	ExpiresAt  time.Time // zero: never, unless Config.MaxKeyLife is set
	Pub, Sub   Permission
}

// KeyUpdate holds the fields Update changes; nil fields are left alone.
type KeyUpdate struct {
	Name      *string
	Notes     *string
	ExpiresAt *time.Time
	Pub, Sub  *Permission
}

func validateText(field, v string, max int) error {
	if len(v) > max {
		return invalid(field, "must be at most %d bytes", max)
	}
	return nil
}

func validateName(name string) error {
	if name == "" {
		return invalid("name", "is required")
	}
	return validateText("name", name, maxNameLen)
}

func validateIdentifier(id string) error {
	if len(id) > maxIdentifier {
		return invalid("identifier", "must be at most %d characters", maxIdentifier)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return invalid("identifier", "may hold only lowercase letters, digits, - and _")
		}
	}
	return nil
}

// validatePermission checks and tidies a pub or sub list.
func validatePermission(field string, p *Permission) error {
	for _, l := range []struct {
		list string
		ps   []string
	}{{field + ".allow", p.Allow}, {field + ".deny", p.Deny}} {
		list, ps := l.list, l.ps
		if len(ps) > maxSubjects {
			return invalid(list, "may hold at most %d subjects", maxSubjects)
		}
		for _, subj := range ps {
			if err := subject.Validate(subj); err != nil {
				return invalid(list, "subject %q %s", subj, err)
			}
		}
	}
	p.Allow, p.Deny = tidy(p.Allow), tidy(p.Deny)
	return nil
}

// tidy returns ps sorted without repeats, never nil.
func tidy(ps []string) []string {
	out := slices.Clone(ps)
	slices.Sort(out)
	return append([]string{}, slices.Compact(out)...)
}

func (s *Service) validateExpiry(at time.Time, now time.Time) error {
	switch {
	case at.IsZero() && s.cfg.MaxKeyLife > 0:
		return invalid("expires_at", "is required: keys live at most %s", s.cfg.MaxKeyLife)
	case at.IsZero():
		return nil
	case !at.After(now):
		return invalid("expires_at", "must be in the future")
	case s.cfg.MaxKeyLife > 0 && at.Sub(now) > s.cfg.MaxKeyLife:
		return invalid("expires_at", "must be within %s", s.cfg.MaxKeyLife)
	}
	return nil
}

// ceiling checks that by holds every subject a key would allow: a key
// cannot carry permissions its creator does not hold.
func (s *Service) ceiling(ctx context.Context, by auth.Principal, pub, sub Permission) error {
	if len(pub.Allow) == 0 && len(sub.Allow) == 0 || s.cfg.IsAdmin(ctx, by) {
		return nil
	}
	if s.cfg.Authorize == nil {
		return forbidden("only administrators may give keys NATS subjects")
	}
	for _, c := range []struct {
		op, verb string
		subj     []string
	}{{"pub", "publish", pub.Allow}, {"sub", "subscribe", sub.Allow}} {
		for _, subj := range c.subj {
			if err := s.cfg.Authorize(ctx, by, "nats."+c.op+"."+subj); err != nil {
				return forbidden(fmt.Sprintf("you may not %s on %q", c.verb, subj))
			}
		}
	}
	return nil
}

// manager checks that by may manage keys at all: API keys may not.
func manager(by auth.Principal) error {
	if by.Kind == auth.KindAPIKey {
		return forbidden("API keys cannot manage API keys; use a token")
	}
	return nil
}

// Create makes a key for nk.ClientID (the caller if empty) and returns it
// with its secret, which is shown this once and never stored.
func (s *Service) Create(ctx context.Context, by auth.Principal, nk NewKey) (Key, string, error) {
	if err := manager(by); err != nil {
		return Key{}, "", err
	}
	if nk.ClientID == "" {
		nk.ClientID = by.ClientID
	}
	if nk.ClientID != by.ClientID && !s.cfg.IsAdmin(ctx, by) {
		return Key{}, "", forbidden("only administrators may create keys for other clients")
	}
	if nk.Identifier != "" && !s.cfg.IsAdmin(ctx, by) {
		// The identifier is what lets a key register and publish its
		// extension, so it is granted, not chosen.
		return Key{}, "", forbidden("only administrators may create keys with an extension identifier")
	}
	now := s.now().UTC()
	err := firstError(validateName(nk.Name), validateText("notes", nk.Notes, maxNotesLen), validateIdentifier(nk.Identifier),
		s.validateExpiry(nk.ExpiresAt, now), validatePermission("pub", &nk.Pub), validatePermission("sub", &nk.Sub))
	if err != nil {
		return Key{}, "", err
	}
	if err := s.ceiling(ctx, by, nk.Pub, nk.Sub); err != nil {
		return Key{}, "", err
	}
	if _, err := s.owner(ctx, nk.ClientID); err != nil {
		return Key{}, "", invalid("client_id", "names no enabled client")
	}
	id, token, hash := newToken()
	k := Key{
		ID: id, ClientID: nk.ClientID, Name: nk.Name, Notes: nk.Notes, Identifier: nk.Identifier,
		Pub: nk.Pub, Sub: nk.Sub, ExpiresAt: nk.ExpiresAt.UTC(), CreatedAt: now, CreatedBy: by.ClientID,
		UpdatedAt: now, Hash: hash,
	}
	if err := s.store.CreateKey(ctx, k); err != nil {
		return Key{}, "", fmt.Errorf("apikey: create key: %w", err)
	}
	s.audit(ctx, "apikey.create", by, k, "")
	return k, token, nil
}

// firstError returns the first non-nil error, so a request with several
// bad fields is told of one, plainly.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Get returns a key its owner or an administrator asks for. Another
// client's key is ErrNotFound, so ids cannot be probed.
func (s *Service) Get(ctx context.Context, by auth.Principal, id string) (Key, error) {
	if err := manager(by); err != nil {
		return Key{}, err
	}
	k, err := s.store.GetKey(ctx, id)
	if err != nil {
		return Key{}, err
	}
	if k.ClientID != by.ClientID && !s.cfg.IsAdmin(ctx, by) {
		return Key{}, ErrNotFound
	}
	return k, nil
}

// List returns the keys f selects. f.ClientID empty lists the caller's own;
// another client's, or every key (all), needs an administrator.
func (s *Service) List(ctx context.Context, by auth.Principal, f KeyFilter, all bool) ([]Key, int, error) {
	if err := manager(by); err != nil {
		return nil, 0, err
	}
	switch {
	case all || f.ClientID != "" && f.ClientID != by.ClientID:
		if !s.cfg.IsAdmin(ctx, by) {
			return nil, 0, forbidden("only administrators may list other clients' keys")
		}
		if all {
			f.ClientID = ""
		}
	default:
		f.ClientID = by.ClientID
	}
	return s.store.ListKeys(ctx, f)
}

// Update changes a key's name, notes, expiry or subjects. Narrowing what a
// key allows, or shortening its life, revokes the NATS credentials already
// issued for it, so the change reaches the NATS server at once.
func (s *Service) Update(ctx context.Context, by auth.Principal, id string, u KeyUpdate) (Key, error) {
	if _, err := s.Get(ctx, by, id); err != nil {
		return Key{}, err
	}
	now := s.now().UTC()
	var checks []error
	if u.Name != nil {
		checks = append(checks, validateName(*u.Name))
	}
	if u.Notes != nil {
		checks = append(checks, validateText("notes", *u.Notes, maxNotesLen))
	}
	if u.ExpiresAt != nil {
		checks = append(checks, s.validateExpiry(*u.ExpiresAt, now))
	}
	if u.Pub != nil {
		checks = append(checks, validatePermission("pub", u.Pub))
	}
	if u.Sub != nil {
		checks = append(checks, validatePermission("sub", u.Sub))
	}
	if err := firstError(checks...); err != nil {
		return Key{}, err
	}
	if u.Pub != nil || u.Sub != nil {
		pub, sub := Permission{}, Permission{}
		if u.Pub != nil {
			pub = *u.Pub
		}
		if u.Sub != nil {
			sub = *u.Sub
		}
		if err := s.ceiling(ctx, by, pub, sub); err != nil {
			return Key{}, err
		}
	}
	var reissue bool
	k, err := s.store.UpdateKey(ctx, id, func(k *Key) error {
		if u.Name != nil {
			k.Name = *u.Name
		}
		if u.Notes != nil {
			k.Notes = *u.Notes
		}
		if u.ExpiresAt != nil {
			reissue = reissue || k.ExpiresAt.IsZero() || u.ExpiresAt.Before(k.ExpiresAt)
			k.ExpiresAt = u.ExpiresAt.UTC()
		}
		if u.Pub != nil {
			reissue = reissue || !slices.Equal(k.Pub.Allow, u.Pub.Allow) || !slices.Equal(k.Pub.Deny, u.Pub.Deny)
			k.Pub = *u.Pub
		}
		if u.Sub != nil {
			reissue = reissue || !slices.Equal(k.Sub.Allow, u.Sub.Allow) || !slices.Equal(k.Sub.Deny, u.Sub.Deny)
			k.Sub = *u.Sub
		}
		k.UpdatedAt = now
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	if reissue {
		if err := s.revokeCredentials(ctx, id); err != nil {
			return k, err
		}
	}
	s.audit(ctx, "apikey.update", by, k, "")
	return k, nil
}

// Revoke stops a key working, and its NATS credentials with it.
func (s *Service) Revoke(ctx context.Context, by auth.Principal, id string) (Key, error) {
	return s.setRevoked(ctx, by, id, true)
}

// Reactivate lets a revoked key work again. Credentials issued before it
// was revoked stay revoked; the key exchanges for new ones.
func (s *Service) Reactivate(ctx context.Context, by auth.Principal, id string) (Key, error) {
	return s.setRevoked(ctx, by, id, false)
}

func (s *Service) setRevoked(ctx context.Context, by auth.Principal, id string, revoked bool) (Key, error) {
	if _, err := s.Get(ctx, by, id); err != nil {
		return Key{}, err
	}
	now := s.now().UTC()
	k, err := s.store.UpdateKey(ctx, id, func(k *Key) error {
		k.Revoked, k.UpdatedAt = revoked, now
		k.RevokedAt = time.Time{}
		if revoked {
			k.RevokedAt = now
		}
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	action := "apikey.reactivate"
	if revoked {
		action = "apikey.revoke"
		if err := s.revokeCredentials(ctx, id); err != nil {
			return k, err
		}
	}
	s.audit(ctx, action, by, k, "")
	return k, nil
}

// Delete removes a key and revokes its NATS credentials. The key is marked
// revoked first, so an exchange racing the delete sees it and revokes what
// it issued.
func (s *Service) Delete(ctx context.Context, by auth.Principal, id string) error {
	k, err := s.setRevoked(ctx, by, id, true)
	if err != nil {
		return err
	}
	if err := s.store.DeleteKey(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, "apikey.delete", by, k, "")
	return nil
}
