package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxKidLen bounds the kid a token header may name; a longer one is refused
// before any lookup.
const maxKidLen = 128

// Key is an Ed25519 key with its key id. Private is nil for a key that only
// verifies (a peer's, or one retired from signing).
type Key struct {
	ID      string
	Public  ed25519.PublicKey
	Private ed25519.PrivateKey
}

// GenerateKey makes a new signing key from crypto/rand. Its ID is the RFC
// 7638 JWK thumbprint of the public key.
func GenerateKey() (Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("auth: generate key: %w", err)
	}
	return Key{ID: Thumbprint(pub), Public: pub, Private: priv}, nil
}

// ParsePrivateKey reads a signing key given in standard or URL-safe base64:
// either the 32-byte seed or the 64-byte private key. The ID is the
// thumbprint of its public key.
func ParsePrivateKey(s string) (Key, error) {
	b, err := decodeB64(s)
	if err != nil {
		return Key{}, fmt.Errorf("auth: private key is not base64: %w", err)
	}
	var priv ed25519.PrivateKey
	switch len(b) {
	case ed25519.SeedSize:
		priv = ed25519.NewKeyFromSeed(b)
	case ed25519.PrivateKeySize:
		priv = ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if !priv.Equal(ed25519.PrivateKey(b)) {
			return Key{}, errors.New("auth: private key's public half does not match its seed")
		}
	default:
		return Key{}, fmt.Errorf("auth: private key must be a 32-byte seed or 64-byte key, got %d bytes", len(b))
	}
	pub := priv.Public().(ed25519.PublicKey)
	return Key{ID: Thumbprint(pub), Public: pub, Private: priv}, nil
}

// ParsePublicKey reads a 32-byte Ed25519 public key in base64.
func ParsePublicKey(s string) (Key, error) {
	b, err := decodeB64(s)
	if err != nil {
		return Key{}, fmt.Errorf("auth: public key is not base64: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return Key{}, fmt.Errorf("auth: public key must be 32 bytes, got %d", len(b))
	}
	pub := ed25519.PublicKey(b)
	return Key{ID: Thumbprint(pub), Public: pub}, nil
}

// EncodePrivateKey is the inverse of ParsePrivateKey: the seed in standard base64.
func EncodePrivateKey(k Key) string { return base64.StdEncoding.EncodeToString(k.Private.Seed()) }

// EncodePublicKey is the public key in standard base64.
func EncodePublicKey(k Key) string { return base64.StdEncoding.EncodeToString(k.Public) }

func decodeB64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("illegal base64 data")
}

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key
// (RFC 8037 OKP form), base64url without padding.
func Thumbprint(pub ed25519.PublicKey) string {
	// The members in lexicographic order, no whitespace, as RFC 7638 requires.
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// KeySet holds the signing key and the keys tokens are verified with. It is
// safe for concurrent use; verification reads a snapshot without locking.
//
// Rotation: Rotate makes a new key the signing key and keeps the old one for
// verification until a time you choose, which should be at least the longest
// token life after now, so tokens signed just before the rotation stay valid.
type KeySet struct {
	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[keySnapshot]
}

type keySnapshot struct {
	active  Key
	keys    map[string]verifyKey
	version uint64
}

type verifyKey struct {
	key      Key
	retireAt time.Time // zero: no end
}

// NewKeySet returns a set that signs with active (which must have a private
// key) and also verifies with the others.
func NewKeySet(active Key, others ...Key) (*KeySet, error) {
	if err := checkKey(active, true); err != nil {
		return nil, err
	}
	snap := &keySnapshot{active: active, keys: map[string]verifyKey{active.ID: {key: active}}, version: 1}
	for _, k := range others {
		if err := checkKey(k, false); err != nil {
			return nil, err
		}
		if _, dup := snap.keys[k.ID]; dup {
			return nil, fmt.Errorf("auth: duplicate key id %q", k.ID)
		}
		snap.keys[k.ID] = verifyKey{key: publicOnly(k)}
	}
	ks := &KeySet{}
	ks.snap.Store(snap)
	return ks, nil
}

func checkKey(k Key, signing bool) error {
	switch {
	case k.ID == "" || len(k.ID) > maxKidLen:
		return fmt.Errorf("auth: key id must be 1 to %d characters", maxKidLen)
	case len(k.Public) != ed25519.PublicKeySize:
		return fmt.Errorf("auth: key %q has no valid public key", k.ID)
	case signing && len(k.Private) != ed25519.PrivateKeySize:
		return fmt.Errorf("auth: signing key %q has no private key", k.ID)
	case k.Private != nil && !k.Public.Equal(k.Private.Public()):
		return fmt.Errorf("auth: key %q has mismatched halves", k.ID)
	}
	return nil
}

func publicOnly(k Key) Key { return Key{ID: k.ID, Public: k.Public} }

// Rotate makes next the signing key. The previous signing key keeps
// verifying tokens until keepOldUntil, then stops.
func (ks *KeySet) Rotate(next Key, keepOldUntil time.Time) error {
	if err := checkKey(next, true); err != nil {
		return err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	old := ks.snap.Load()
	snap := old.clone()
	snap.keys[old.active.ID] = verifyKey{key: publicOnly(old.active), retireAt: keepOldUntil}
	snap.keys[next.ID] = verifyKey{key: next}
	snap.active = next
	ks.snap.Store(snap)
	return nil
}

// Add publishes a verify-only key (a private half is dropped). Adding a key
// id already present replaces it.
func (ks *KeySet) Add(k Key) error {
	if err := checkKey(k, false); err != nil {
		return err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	snap := ks.snap.Load().clone()
	if k.ID == snap.active.ID {
		return fmt.Errorf("auth: key %q is the signing key", k.ID)
	}
	snap.keys[k.ID] = verifyKey{key: publicOnly(k)}
	ks.snap.Store(snap)
	return nil
}

// Remove stops verifying with a key at once. The signing key cannot be
// removed; rotate first.
func (ks *KeySet) Remove(kid string) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	snap := ks.snap.Load().clone()
	if kid == snap.active.ID {
		return fmt.Errorf("auth: key %q is the signing key; rotate before removing it", kid)
	}
	if _, ok := snap.keys[kid]; !ok {
		return ErrNotFound
	}
	delete(snap.keys, kid)
	ks.snap.Store(snap)
	return nil
}

// Prune removes keys whose verification window ended before now.
func (ks *KeySet) Prune(now time.Time) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	snap := ks.snap.Load().clone()
	changed := false
	for id, vk := range snap.keys {
		if !vk.retireAt.IsZero() && !now.Before(vk.retireAt) {
			delete(snap.keys, id)
			changed = true
		}
	}
	if changed {
		ks.snap.Store(snap)
	}
}

func (s *keySnapshot) clone() *keySnapshot {
	c := &keySnapshot{active: s.active, keys: make(map[string]verifyKey, len(s.keys)+1), version: s.version + 1}
	for id, k := range s.keys {
		c.keys[id] = k
	}
	return c
}

// Signing returns the current signing key.
func (ks *KeySet) Signing() Key { return ks.snap.Load().active }

// Public returns the keys that verify at now, signing key first, then by id.
func (ks *KeySet) Public(now time.Time) []Key {
	snap := ks.snap.Load()
	out := make([]Key, 0, len(snap.keys))
	for _, vk := range snap.keys {
		if vk.key.ID != snap.active.ID && vk.live(now) {
			out = append(out, publicOnly(vk.key))
		}
	}
	slices.SortFunc(out, func(a, b Key) int { return strings.Compare(a.ID, b.ID) })
	return append([]Key{publicOnly(snap.active)}, out...)
}

func (vk verifyKey) live(now time.Time) bool { return vk.retireAt.IsZero() || now.Before(vk.retireAt) }

// keyUse is what a lookup tells a verification beyond the key: the set's
// version (which changes on every rotation, add or remove) and when the key
// stops verifying (zero: no end), so a cached verification ends with it.
type keyUse struct {
	version  uint64
	retireAt time.Time
}

// lookup returns the public key for kid if it verifies at now.
func (ks *KeySet) lookup(kid string, now time.Time) (ed25519.PublicKey, keyUse, bool) {
	snap := ks.snap.Load()
	vk, ok := snap.keys[kid]
	if !ok || !vk.live(now) {
		return nil, keyUse{}, false
	}
	return vk.key.Public, keyUse{version: snap.version, retireAt: vk.retireAt}, true
}

func (ks *KeySet) version() uint64 { return ks.snap.Load().version }

// JWK is one RFC 8037 OKP public key as JWKS publishes it.
type JWK struct {
	KeyType   string `json:"kty"`
	Curve     string `json:"crv"`
	X         string `json:"x"`
	KeyID     string `json:"kid"`
	Use       string `json:"use"`
	Algorithm string `json:"alg"`
}

// JWKS is a JSON Web Key Set document.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWKS returns the set's public keys that verify at now.
func (ks *KeySet) JWKS(now time.Time) JWKS {
	pub := ks.Public(now)
	doc := JWKS{Keys: make([]JWK, len(pub))}
	for i, k := range pub {
		doc.Keys[i] = JWK{KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public), KeyID: k.ID, Use: "sig", Algorithm: "EdDSA"}
	}
	return doc
}

// JWKSHandler serves the set as application/jwk-set+json, cacheable for
// five minutes. now may be nil (time.Now).
func (ks *KeySet) JWKSHandler(now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := json.Marshal(ks.JWKS(now()))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(b)
	})
}
