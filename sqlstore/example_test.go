package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/sqlstore"
)

// A SQLite database as an auth service's token DB: tokens it issues
// survive a restart, and revoking one deletes its record.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "portico")
	defer os.RemoveAll(dir)

	db, err := sqlstore.Open(ctx, filepath.Join(dir, "portico.db"), sqlstore.Config{})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	store, err := db.Auth(ctx) // creates the auth tables on first use
	if err != nil {
		panic(err)
	}
	svc, err := auth.New(auth.Config{Store: store})
	if err != nil {
		panic(err)
	}
	grant, err := svc.Mint(ctx, auth.Principal{Subject: "ci", ClientID: "ci", Roles: []string{"deployer"}}, auth.MintRequest{})
	if err != nil {
		panic(err)
	}
	p, err := svc.Verify(ctx, grant.Token)
	fmt.Println(p.Subject, p.Roles, err)

	v, _ := db.SchemaVersion(ctx, "auth")
	fmt.Println("auth schema version", v, "on", db.Dialect())

	n, _ := svc.Revoke(ctx, auth.TokenFilter{ClientID: "ci"})
	_, err = svc.Verify(ctx, grant.Token)
	fmt.Println(n, "revoked:", err != nil)
	// Output:
	// ci [deployer] <nil>
	// auth schema version 1 on sqlite
	// 1 revoked: true
}
