package main

import (
	"fmt"
	"path/filepath"

	"github.com/nats-io/nkeys"
)

// loadNKey returns the nkey pair whose seed is kept in <data>/<name>,
// generating it (mode 0600) on first start. Seeds stay in files, never in
// a database.
func loadNKey(data, name string, create func() (nkeys.KeyPair, error)) (nkeys.KeyPair, error) {
	path := filepath.Join(data, name)
	seed, _, err := loadOrCreateSecret(path, func() (string, error) {
		kp, err := create()
		if err != nil {
			return "", err
		}
		s, err := kp.Seed()
		return string(s), err
	})
	if err != nil {
		return nil, err
	}
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kp, nil
}
