package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"hash/crc32"
	"strings"
)

// Prefix starts every API key, so secret scanners can recognise a leaked
// one: "portico_" then 55 lowercase base32 characters encoding a 10-byte
// key id, a 20-byte secret and a CRC-32 of both.
const Prefix = "portico_"

const (
	idLen     = 10
	secretLen = 20
	rawLen    = idLen + secretLen + 4
	// TokenLen is the length of an API key.
	TokenLen = len(Prefix) + (rawLen*8+4)/5
)

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newToken returns a fresh key id, the API key that carries it, and the
// hash of its secret, which is all the store keeps.
func newToken() (id, token string, hash []byte) {
	var raw [rawLen]byte
	_, _ = rand.Read(raw[:idLen+secretLen]) // crypto/rand.Read never fails
	binary.BigEndian.PutUint32(raw[idLen+secretLen:], crc32.ChecksumIEEE(raw[:idLen+secretLen]))
	sum := sha256.Sum256(raw[idLen : idLen+secretLen])
	return b32.EncodeToString(raw[:idLen]), Prefix + b32.EncodeToString(raw[:]), sum[:]
}

// parseToken checks an API key's form and checksum without any lookup
// and returns its key id and the hash of its secret.
func parseToken(token string) (id string, hash []byte, ok bool) {
	if len(token) != TokenLen || !strings.HasPrefix(token, Prefix) {
		return "", nil, false
	}
	var raw [rawLen + 1]byte // base32 of 34 bytes decodes with one spare
	n, err := b32.Decode(raw[:], []byte(token[len(Prefix):]))
	if err != nil || n != rawLen {
		return "", nil, false
	}
	if crc32.ChecksumIEEE(raw[:idLen+secretLen]) != binary.BigEndian.Uint32(raw[idLen+secretLen:rawLen]) {
		return "", nil, false
	}
	sum := sha256.Sum256(raw[idLen : idLen+secretLen])
	return b32.EncodeToString(raw[:idLen]), sum[:], true
}

// LooksLikeKey reports whether s has the form and checksum of an API key,
// as a secret scanner would check it. It says nothing of whether the key
// exists.
func LooksLikeKey(s string) bool {
	_, _, ok := parseToken(s)
	return ok
}

// hashEqual compares secret hashes in constant time.
func hashEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
