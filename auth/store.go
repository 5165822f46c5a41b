package auth

import (
	"context"
	"slices"
	"time"
)

// TokenRecord is a token DB entry. Every token the Service issues has one,
// and a token is valid only while its record exists: revoking a token is
// deleting its record. The JSON names are the token DB's field names.
type TokenRecord struct {
	TokenID   string    `json:"tid"`
	ClientID  string    `json:"cid"`
	Roles     []string  `json:"r"`
	Groups    []string  `json:"g,omitempty"`
	Created   time.Time `json:"cts"`
	Expires   time.Time `json:"ets"`
	Requester string    `json:"rcid"`
	// Family links the access tokens and refresh tokens of one login
	// session; logout and refresh-token reuse revoke a whole family. Empty
	// for minted tokens.
	Family string `json:"fam,omitempty"`
}

// TokenFilter selects token records. Zero fields match everything, so the
// zero filter selects every record.
type TokenFilter struct {
	TokenID      string
	ClientID     string
	Family       string
	IssuedBefore time.Time // Created strictly before
	ExpiredAt    time.Time // Expires at or before: the purge of expired records
	Limit        int       // for lists: at most this many, 0 meaning all
	Offset       int
}

// Match reports whether rec is selected by f (Limit and Offset aside). SQL
// stores translate the same rules into a WHERE clause.
func (f TokenFilter) Match(rec TokenRecord) bool {
	return (f.TokenID == "" || rec.TokenID == f.TokenID) &&
		(f.ClientID == "" || rec.ClientID == f.ClientID) &&
		(f.Family == "" || rec.Family == f.Family) &&
		(f.IssuedBefore.IsZero() || rec.Created.Before(f.IssuedBefore)) &&
		(f.ExpiredAt.IsZero() || !rec.Expires.After(f.ExpiredAt))
}

// RefreshRecord is a refresh token as stored: only its SHA-256 hash, never
// the token.
type RefreshRecord struct {
	Hash     string // hex SHA-256 of the refresh token
	Family   string
	ClientID string
	Created  time.Time
	Expires  time.Time
	// UsedAt is when the token was exchanged; zero while unspent.
	UsedAt time.Time
}

// RefreshFilter selects refresh records; zero fields match everything.
type RefreshFilter struct {
	Family       string
	ClientID     string
	IssuedBefore time.Time // Created strictly before
	ExpiredAt    time.Time // Expires at or before
}

// Match reports whether rec is selected by f.
func (f RefreshFilter) Match(rec RefreshRecord) bool {
	return (f.Family == "" || rec.Family == f.Family) &&
		(f.ClientID == "" || rec.ClientID == f.ClientID) &&
		(f.IssuedBefore.IsZero() || rec.Created.Before(f.IssuedBefore)) &&
		(f.ExpiredAt.IsZero() || !rec.Expires.After(f.ExpiredAt))
}

// Client is a user or a service that can hold tokens.
type Client struct {
	ID      string
	Name    string
	Roles   []string
	Groups  []string
	Enabled bool
	// PasswordHash is a PHC-format hash, empty for a client that cannot log
	// in with a password (a service, or one that logs in through OIDC).
	PasswordHash string
	// MFASecret is the TOTP secret (base32) once MFA is enabled;
	// MFAPending holds one being enrolled; MFALastStep is the last accepted
	// time step, so a code is never accepted twice.
	MFASecret   string
	MFAPending  string
	MFALastStep int64
	CreatedAt   time.Time
	LastLogin   time.Time // zero: never
}

// HasRole reports whether the client holds role.
func (c Client) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// ClientFilter selects clients for a list.
type ClientFilter struct {
	Role   string // only clients holding this role; empty for all
	Limit  int    // 0 meaning all
	Offset int
}

// TokenStore is the token DB.
//
// Lists are ordered by Created, then TokenID, and return the total number
// of matching records beside the page.
type TokenStore interface {
	// CreateToken records a token; ErrExists if its id is taken.
	CreateToken(ctx context.Context, rec TokenRecord) error
	// GetToken returns the record; ErrNotFound if there is none.
	GetToken(ctx context.Context, tid string) (TokenRecord, error)
	// ListTokens returns the records f selects, paged by f.Limit and f.Offset.
	ListTokens(ctx context.Context, f TokenFilter) ([]TokenRecord, int, error)
	// DeleteTokens deletes the records f selects (ignoring Limit and
	// Offset) in one atomic step and returns how many it deleted.
	DeleteTokens(ctx context.Context, f TokenFilter) (int, error)
}

// RefreshStore holds refresh tokens by hash.
type RefreshStore interface {
	// CreateRefresh stores a refresh record; ErrExists if the hash is taken.
	CreateRefresh(ctx context.Context, rec RefreshRecord) error
	// UseRefresh spends the refresh token with this hash, atomically: the
	// first call sets UsedAt to at and returns the record; a later call
	// returns the record (with the first UsedAt) and ErrRefreshReused.
	// ErrNotFound if there is no such record.
	UseRefresh(ctx context.Context, hash string, at time.Time) (RefreshRecord, error)
	// DeleteRefresh deletes the records f selects and returns how many.
	DeleteRefresh(ctx context.Context, f RefreshFilter) (int, error)
}

// ClientStore holds clients. Lists are ordered by ID.
type ClientStore interface {
	// CreateClient stores a new client; ErrExists if the id is taken.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns a client; ErrNotFound if there is none.
	GetClient(ctx context.Context, id string) (Client, error)
	// UpdateClient applies fn to the client atomically and stores the
	// result, which it returns. fn's error aborts the update and is
	// returned as is. ErrNotFound if there is no such client. fn must not
	// change the ID.
	UpdateClient(ctx context.Context, id string, fn func(*Client) error) (Client, error)
	// DeleteClient deletes a client; ErrNotFound if there is none.
	DeleteClient(ctx context.Context, id string) error
	// ListClients returns the clients f selects and their total.
	ListClients(ctx context.Context, f ClientFilter) ([]Client, int, error)
}

// Store is everything the Service keeps. Returned values are copies: a
// caller changing one changes nothing stored. Every method's other errors
// are the backend's, returned as they are.
type Store interface {
	TokenStore
	RefreshStore
	ClientStore
}

func cloneRecord(r TokenRecord) TokenRecord {
	r.Roles = slices.Clone(r.Roles)
	r.Groups = slices.Clone(r.Groups)
	return r
}

func cloneClient(c Client) Client {
	c.Roles = slices.Clone(c.Roles)
	c.Groups = slices.Clone(c.Groups)
	return c
}
