// Command portico-keygen prints a new Ed25519 signing key pair for Portico,
// in the environment-variable form the example server reads:
//
//	go run ./cmd/portico-keygen > signing.env
//
// PORTICO_SIGNING_KEY is the private key (the 32-byte seed, base64): keep it
// secret. PORTICO_PUBLIC_KEY is the public key, for services that only
// verify; the kid is its RFC 7638 thumbprint.
package main

import (
	"fmt"
	"os"

	"github.com/portico-dev/portico/auth"
)

func main() {
	k, err := auth.GenerateKey()
	if err != nil {
		fmt.Fprintln(os.Stderr, "portico-keygen:", err)
		os.Exit(1)
	}
	fmt.Printf("# Portico Ed25519 signing key, kid %s. Keep PORTICO_SIGNING_KEY secret.\n", k.ID)
	fmt.Printf("PORTICO_SIGNING_KEY=%s\n", auth.EncodePrivateKey(k))
	fmt.Printf("PORTICO_PUBLIC_KEY=%s\n", auth.EncodePublicKey(k))
}
