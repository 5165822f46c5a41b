package apikey

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/portico-dev/portico/auth"
)

// Exchange turns the API key p authenticated with into NATS credentials: a
// fresh user nkey and a user JWT signed by the account key, holding the
// key's publish and subscribe lists plus Config.InboxSubjects, expiring
// after Config.CredentialsTTL and never after the key. The credentials are
// recorded so that revoking the key revokes them on the NATS server.
func (s *Service) Exchange(ctx context.Context, p auth.Principal) (Credentials, error) {
	if s.cfg.Account == nil {
		return Credentials{}, ErrNATSDisabled
	}
	if p.Kind != auth.KindAPIKey {
		return Credentials{}, forbidden("NATS credentials are exchanged for an API key; authenticate with one")
	}
	for range 3 {
		k, err := s.store.GetKey(ctx, p.TokenID)
		if errors.Is(err, ErrNotFound) {
			return Credentials{}, ErrRevoked
		}
		if err != nil {
			return Credentials{}, fmt.Errorf("apikey: key lookup: %w", err)
		}
		if err := usable(k, s.now()); err != nil {
			return Credentials{}, err
		}
		c, err := s.issue(ctx, k)
		if err != nil {
			return Credentials{}, err
		}
		// The key may have been revoked, deleted or narrowed between the
		// read above and the credential's record: a revocation that ran
		// before the record missed it. Read the key again; if it changed,
		// revoke what was just issued.
		now, err := s.store.GetKey(ctx, k.ID)
		if err == nil && now.UpdatedAt.Equal(k.UpdatedAt) && usable(now, s.now()) == nil {
			s.audit(ctx, "apikey.exchange", p, k, "user "+c.UserKey)
			return c, nil
		}
		if err := s.revokeCredentials(ctx, k.ID); err != nil {
			return Credentials{}, err
		}
	}
	return Credentials{}, errors.New("apikey: the key kept changing during the exchange")
}

// issue signs and records credentials for k.
func (s *Service) issue(ctx context.Context, k Key) (Credentials, error) {
	now := s.now()
	exp := now.Add(s.cfg.CredentialsTTL)
	if !k.ExpiresAt.IsZero() && k.ExpiresAt.Before(exp) {
		exp = k.ExpiresAt
	}
	exp = exp.Truncate(time.Second) // JWT times are whole seconds
	user, err := nkeys.CreateUser()
	if err != nil {
		return Credentials{}, fmt.Errorf("apikey: create user nkey: %w", err)
	}
	defer user.Wipe()
	userPub, _ := user.PublicKey()
	seed, _ := user.Seed()

	uc := jwt.NewUserClaims(userPub)
	uc.Name = k.Name
	uc.Expires = exp.Unix()
	uc.Pub = natsPermission(k.Pub, nil)
	uc.Sub = natsPermission(k.Sub, s.cfg.InboxSubjects)
	uc.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}
	uc.Tags.Add("apikey:" + k.ID)
	token, err := uc.Encode(s.cfg.Account)
	if err != nil {
		return Credentials{}, fmt.Errorf("apikey: sign user JWT: %w", err)
	}
	err = s.store.AddCredential(ctx, Credential{UserKey: userPub, KeyID: k.ID, IssuedAt: now.UTC(), ExpiresAt: exp.UTC()})
	if err != nil {
		return Credentials{}, fmt.Errorf("apikey: record credentials: %w", err)
	}
	return Credentials{JWT: token, Seed: string(seed), ID: k.ID, Account: s.accountPub, UserKey: userPub, ExpiresAt: exp.UTC()}, nil
}

// natsPermission is a key's list as a NATS permission. NATS reads an empty
// allow list as "everything", so a list that allows nothing denies ">".
func natsPermission(p Permission, extra []string) jwt.Permission {
	allow := tidy(append(slices.Clone(p.Allow), extra...))
	deny := slices.Clone(p.Deny)
	if len(allow) == 0 {
		deny = []string{">"}
	}
	return jwt.Permission{Allow: allow, Deny: deny}
}

// Creds formats credentials as a NATS .creds file, which nats.go reads
// with nats.UserCredentials and the nats CLI with --creds. It holds the
// seed: keep it secret.
func (c Credentials) Creds() ([]byte, error) {
	return jwt.FormatUserConfig(c.JWT, []byte(c.Seed))
}

// AccountPublicKey is the public key of Config.Account ("" without one).
func (s *Service) AccountPublicKey() string { return s.accountPub }

// AccountJWT returns the account's JWT, signed by Config.Operator, with
// the revocations of every unexpired credential of a revoked or deleted
// key. A NATS server in operator mode that resolves the account to it
// refuses those credentials, and drops connections made with them.
func (s *Service) AccountJWT(ctx context.Context) (string, error) {
	if s.cfg.Account == nil || s.cfg.Operator == nil {
		return "", fmt.Errorf("%w: the account JWT needs Config.Account and Config.Operator", ErrNATSDisabled)
	}
	revoked, err := s.store.RevokedCredentials(ctx, s.now())
	if err != nil {
		return "", fmt.Errorf("apikey: list revoked credentials: %w", err)
	}
	ac := jwt.NewAccountClaims(s.accountPub)
	ac.Name = s.cfg.AccountName
	for _, c := range revoked {
		// Each user key is used for one JWT only, so revoking every JWT of
		// it issued up to its expiry revokes exactly that one, whatever
		// the clocks say.
		ac.RevokeAt(c.UserKey, c.ExpiresAt)
	}
	token, err := ac.Encode(s.cfg.Operator)
	if err != nil {
		return "", fmt.Errorf("apikey: sign account JWT: %w", err)
	}
	return token, nil
}

// revokeCredentials revokes the key's issued credentials and hands the
// NATS server the new account JWT.
func (s *Service) revokeCredentials(ctx context.Context, keyID string) error {
	n, err := s.store.RevokeCredentials(ctx, keyID, s.now().UTC())
	if err != nil {
		return fmt.Errorf("apikey: revoke credentials: %w", err)
	}
	if n == 0 {
		return nil
	}
	return s.publish(ctx)
}

// publish hands the current account JWT to Config.PublishAccount.
func (s *Service) publish(ctx context.Context) error {
	if s.cfg.PublishAccount == nil || s.cfg.Operator == nil || s.cfg.Account == nil {
		return nil
	}
	token, err := s.AccountJWT(ctx)
	if err != nil {
		return err
	}
	if err := s.cfg.PublishAccount(ctx, token); err != nil {
		return fmt.Errorf("apikey: publish account JWT: %w", err)
	}
	return nil
}
