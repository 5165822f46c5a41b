package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordHasher turns passwords into stored hashes and checks them.
type PasswordHasher interface {
	// Hash returns a self-describing hash of password.
	Hash(password string) (string, error)
	// Verify reports whether password matches hash. A hash it cannot read is
	// an error, a mismatch is (false, nil).
	Verify(hash, password string) (bool, error)
}

// Argon2id hashes passwords with Argon2id (RFC 9106) into the PHC string
// format ($argon2id$v=19$m=...,t=...,p=...$salt$hash). The parameters are
// stored in each hash, so changing them later leaves old hashes verifiable.
// The zero value uses OWASP's recommended minimum: 19 MiB, 2 passes, 1 lane.
type Argon2id struct {
	Memory  uint32 // KiB; 0: 19456
	Time    uint32 // passes; 0: 2
	Threads uint8  // lanes; 0: 1
}

var _ PasswordHasher = Argon2id{}

// Hash implements PasswordHasher with a 16-byte salt and a 32-byte key.
func (a Argon2id) Hash(password string) (string, error) {
	m, t, p := a.params()
	salt := make([]byte, 16)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails
	key := argon2.IDKey([]byte(password), salt, t, m, p, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// maxArgonMemory bounds the memory a stored hash may ask for (1 GiB), so a
// corrupted or hostile hash cannot exhaust the process.
const maxArgonMemory = 1 << 20

// Verify implements PasswordHasher.
func (a Argon2id) Verify(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("auth: not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("auth: unsupported argon2id version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > maxArgonMemory || t == 0 || t > 64 || p == 0 {
		return false, errors.New("auth: invalid argon2id parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errors.New("auth: invalid argon2id salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, errors.New("auth: invalid argon2id key")
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func (a Argon2id) params() (m, t uint32, p uint8) {
	m, t, p = a.Memory, a.Time, a.Threads
	if m == 0 {
		m = 19456
	}
	if t == 0 {
		t = 2
	}
	if p == 0 {
		p = 1
	}
	return m, t, p
}
