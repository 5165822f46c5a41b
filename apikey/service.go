package apikey

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/periodic"
	"github.com/portico-dev/portico/internal/subject"
)

// Clients finds a key's owner. auth.ClientStore satisfies it, and so does a
// host's own client directory.
type Clients interface {
	GetClient(ctx context.Context, id string) (auth.Client, error)
}

// Config configures a Service. Clients is required; every other zero value
// is a safe default.
type Config struct {
	// Store keeps keys and issued credentials. Nil: NewMemoryStore().
	Store Store
	// Clients resolves a key's owner on every use: a key whose owner is
	// gone or disabled is refused, and the Principal carries the owner's
	// current roles and groups. Required.
	Clients Clients
	// Account is the NATS account key pair that signs user JWTs. Nil:
	// keys cannot be exchanged for NATS credentials (ErrNATSDisabled).
	Account nkeys.KeyPair
	// Operator is the NATS operator key pair that signs the account JWT
	// (AccountJWT), which carries the revocations of issued credentials.
	// Nil: AccountJWT fails, and revoking a key cannot reach the NATS
	// server; its credentials then stop at their expiry.
	Operator nkeys.KeyPair
	// PublishAccount is called with a fresh account JWT whenever the
	// revocations change, to hand it to the NATS server (the embedded
	// server's resolver, or a push to an external one). Nil: not called.
	PublishAccount func(ctx context.Context, accountJWT string) error
	// AccountName names the account in its JWT. Empty: "portico".
	AccountName string
	// CredentialsTTL is the life of NATS credentials, cut short by the
	// key's expiry. Zero: 24 hours.
	CredentialsTTL time.Duration
	// InboxSubjects are added to every credential's subscribe allow list so
	// request/reply works. Nil: "_INBOX.>". Replies to received requests
	// are always allowed, once each.
	InboxSubjects []string
	// MaxKeyLife caps a key's life. Zero: keys may never expire.
	MaxKeyLife time.Duration
	// IsAdmin decides whether a caller may act on other clients' keys.
	// Nil: the caller holds the role "admin". A host using package rbac
	// wires its decision here.
	IsAdmin func(ctx context.Context, p auth.Principal) bool
	// Authorize decides whether a caller may put a NATS subject in a key:
	// it is asked for "nats.pub.<subject>" and "nats.sub.<subject>" for
	// each allowed subject, so a key cannot carry permissions its creator
	// does not hold. Nil: only administrators may give keys subjects.
	Authorize func(ctx context.Context, p auth.Principal, permission string) error
	// ClientIP returns the caller's IP for a key's last use. Nil:
	// auth.RemoteIP (no forwarded headers are trusted).
	ClientIP func(r *http.Request) string
	// TouchInterval is how often a key's last use is written: a use within
	// it of the last recorded one from the same IP is not. Zero: a minute.
	TouchInterval time.Duration
	// CleanupInterval is how often Run deletes expired credentials. Zero:
	// 10 minutes.
	CleanupInterval time.Duration
	// Audit receives an event for every key created, changed, revoked,
	// reactivated, deleted and exchanged. Nil: none are sent.
	Audit func(auth.AuditEvent)
	// MaxBodyBytes caps request bodies of the Handler. Zero: 64 KiB.
	MaxBodyBytes int64
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Logger receives errors the handlers cannot show. Nil: slog.Default().
	// Keys and seeds are never logged.
	Logger *slog.Logger
}

// Service manages API keys, authenticates requests carrying them, and
// exchanges them for NATS credentials. It is safe for concurrent use.
type Service struct {
	cfg        Config
	store      Store
	accountPub string
	log        *slog.Logger
	now        func() time.Time
}

// New validates cfg and returns a Service. It starts nothing; call Run to
// delete expired credentials in the background.
func New(cfg Config) (*Service, error) {
	if cfg.Clients == nil {
		return nil, errors.New("apikey: Config.Clients is required")
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	cfg.AccountName = cmp.Or(cfg.AccountName, "portico")
	cfg.CredentialsTTL = cmp.Or(cfg.CredentialsTTL, 24*time.Hour)
	cfg.TouchInterval = cmp.Or(cfg.TouchInterval, time.Minute)
	cfg.CleanupInterval = cmp.Or(cfg.CleanupInterval, 10*time.Minute)
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, 64<<10)
	if cfg.InboxSubjects == nil {
		cfg.InboxSubjects = []string{"_INBOX.>"}
	}
	if cfg.IsAdmin == nil {
		cfg.IsAdmin = func(_ context.Context, p auth.Principal) bool { return p.HasRole("admin") }
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = auth.RemoteIP
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	switch {
	case cfg.CredentialsTTL < time.Minute:
		return nil, errors.New("apikey: CredentialsTTL must be at least a minute")
	case cfg.MaxKeyLife < 0 || cfg.TouchInterval < 0 || cfg.CleanupInterval < 0 || cfg.MaxBodyBytes < 0:
		return nil, errors.New("apikey: MaxKeyLife, TouchInterval, CleanupInterval and MaxBodyBytes must not be negative")
	}
	for _, s := range cfg.InboxSubjects {
		if err := subject.Validate(s); err != nil {
			return nil, fmt.Errorf("apikey: InboxSubjects: %q %w", s, err)
		}
	}
	s := &Service{cfg: cfg, store: cfg.Store, log: cfg.Logger, now: cfg.Now}
	if cfg.Account != nil {
		pub, err := cfg.Account.PublicKey()
		if err != nil || !nkeys.IsValidPublicAccountKey(pub) {
			return nil, errors.New("apikey: Config.Account is not an account key pair")
		}
		s.accountPub = pub
	}
	if cfg.Operator != nil {
		pub, err := cfg.Operator.PublicKey()
		if err != nil || !nkeys.IsValidPublicOperatorKey(pub) {
			return nil, errors.New("apikey: Config.Operator is not an operator key pair")
		}
	}
	return s, nil
}

// Store returns the Service's store.
func (s *Service) Store() Store { return s.store }

// keyFrom returns the API key a request carries in an "apiKey" header or
// as an "Authorization: Bearer" token with the key prefix.
func keyFrom(r *http.Request) (string, bool) {
	if k := r.Header.Get("apiKey"); k != "" {
		return k, true
	}
	if tok, ok := auth.BearerToken(r); ok && strings.HasPrefix(tok, Prefix) {
		return tok, true
	}
	return "", false
}

// Authenticate implements auth.Authenticator for API keys in an "apiKey"
// header or an "Authorization: Bearer" header. A request with neither is
// auth.ErrNoCredentials, left to the next authenticator. The Principal is
// the key's owner with the owner's current roles and groups, Kind
// auth.KindAPIKey, TokenID the key's id and Identifier the key's.
func (s *Service) Authenticate(r *http.Request) (auth.Principal, error) {
	token, ok := keyFrom(r)
	if !ok {
		return auth.Principal{}, auth.ErrNoCredentials
	}
	return s.Verify(r.Context(), token, s.cfg.ClientIP(r))
}

// Verify checks an API key and returns the Principal it authenticates,
// recording its use from ip. Errors wrap ErrInvalidKey, ErrRevoked,
// ErrExpired or auth.ErrClientDisabled; a store failure is returned as is.
func (s *Service) Verify(ctx context.Context, token, ip string) (auth.Principal, error) {
	id, hash, ok := parseToken(token)
	if !ok {
		return auth.Principal{}, ErrInvalidKey
	}
	k, err := s.store.GetKey(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return auth.Principal{}, ErrInvalidKey
	}
	if err != nil {
		return auth.Principal{}, fmt.Errorf("apikey: key lookup: %w", err)
	}
	if !hashEqual(hash, k.Hash) {
		return auth.Principal{}, ErrInvalidKey
	}
	now := s.now()
	if err := usable(k, now); err != nil {
		return auth.Principal{}, err
	}
	owner, err := s.owner(ctx, k.ClientID)
	if err != nil {
		return auth.Principal{}, err
	}
	if now.Sub(k.LastUsedAt) >= s.cfg.TouchInterval || k.LastUsedIP != ip {
		if err := s.store.TouchKey(ctx, k.ID, now.UTC(), ip); err != nil {
			s.log.WarnContext(ctx, "apikey: record key use", "key", k.ID, "err", err)
		}
	}
	return auth.Principal{
		Subject:    owner.ID,
		ClientID:   owner.ID,
		Roles:      owner.Roles,
		Groups:     owner.Groups,
		TokenID:    k.ID,
		Kind:       auth.KindAPIKey,
		Requester:  k.CreatedBy,
		Identifier: k.Identifier,
		ExpiresAt:  k.ExpiresAt,
	}, nil
}

// usable reports why k cannot be used at now, if it cannot.
func usable(k Key, now time.Time) error {
	switch {
	case k.Revoked:
		return ErrRevoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return ErrExpired
	}
	return nil
}

// owner returns a key's owner, refusing one that is gone or disabled.
func (s *Service) owner(ctx context.Context, id string) (auth.Client, error) {
	c, err := s.cfg.Clients.GetClient(ctx, id)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.Client{}, ErrInvalidKey
	}
	if err != nil {
		return auth.Client{}, fmt.Errorf("apikey: owner lookup: %w", err)
	}
	if !c.Enabled {
		return auth.Client{}, auth.ErrClientDisabled
	}
	return c, nil
}

func (s *Service) audit(ctx context.Context, action string, by auth.Principal, k Key, detail string) {
	if s.cfg.Audit == nil {
		return
	}
	s.cfg.Audit(auth.AuditEvent{
		Time: s.now().UTC(), Action: action, Actor: by.ClientID, Subject: k.ClientID,
		Outcome: "success", Detail: strings.TrimSpace("key " + k.ID + " " + detail),
	})
}

// Run deletes expired credentials every CleanupInterval until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	return periodic.Run(ctx, s.cfg.CleanupInterval, func(ctx context.Context) {
		if _, err := s.Cleanup(ctx); err != nil {
			s.log.ErrorContext(ctx, "apikey: cleanup", "err", err)
		}
	})
}

// Cleanup deletes credentials that have expired, which also drops their
// revocations from the account JWT, and returns how many it deleted.
func (s *Service) Cleanup(ctx context.Context) (int, error) {
	n, err := s.store.DeleteExpiredCredentials(ctx, s.now())
	if err != nil {
		return 0, fmt.Errorf("apikey: delete expired credentials: %w", err)
	}
	if n > 0 {
		if err := s.publish(ctx); err != nil {
			return n, err
		}
	}
	return n, nil
}
