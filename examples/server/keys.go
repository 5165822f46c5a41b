package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/portico-dev/portico/auth"
)

// loadKeys returns the signing key set: PORTICO_SIGNING_KEY if set, else
// the key in <data>/signing.key, generated (mode 0600) on first start.
// PORTICO_VERIFY_KEYS adds verify-only public keys, for a rotation.
func loadKeys(c config) (*auth.KeySet, bool, error) {
	var (
		signing   auth.Key
		err       error
		generated bool
	)
	if c.signingKey != "" {
		if signing, err = auth.ParsePrivateKey(c.signingKey); err != nil {
			return nil, false, fmt.Errorf("PORTICO_SIGNING_KEY: %w", err)
		}
	} else if signing, generated, err = loadOrCreateKey(filepath.Join(c.data, "signing.key")); err != nil {
		return nil, false, err
	}
	var others []auth.Key
	for _, s := range strings.Split(c.verifyKeys, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		k, err := auth.ParsePublicKey(s)
		if err != nil {
			return nil, false, fmt.Errorf("PORTICO_VERIFY_KEYS: %w", err)
		}
		if k.ID != signing.ID {
			others = append(others, k)
		}
	}
	ks, err := auth.NewKeySet(signing, others...)
	return ks, generated, err
}

func loadOrCreateKey(path string) (auth.Key, bool, error) {
	s, generated, err := loadOrCreateSecret(path, func() (string, error) {
		k, err := auth.GenerateKey()
		return auth.EncodePrivateKey(k), err
	})
	if err != nil {
		return auth.Key{}, false, err
	}
	k, err := auth.ParsePrivateKey(s)
	if err != nil {
		return auth.Key{}, false, fmt.Errorf("%s: %w", path, err)
	}
	return k, generated, nil
}

// loadOrCreateSecret returns the secret kept in the file at path, refusing
// a file others can read. A missing file is created with mode 0600 holding
// newSecret(), and generated is true.
func loadOrCreateSecret(path string, newSecret func() (string, error)) (secret string, generated bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
			return "", false, fmt.Errorf("%s is readable by others (mode %o); chmod 600 it", path, info.Mode().Perm())
		}
		return strings.TrimSpace(string(b)), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, err
	}
	secret, err = newSecret()
	if err != nil {
		return "", false, err
	}
	// O_EXCL: two servers starting on one data dir cannot both write one.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadOrCreateSecret(path, newSecret)
	}
	if err != nil {
		return "", false, err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return "", false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, err
	}
	return secret, true, f.Close()
}
