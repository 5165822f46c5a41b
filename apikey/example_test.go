package apikey_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/portico-dev/portico/apikey"
	"github.com/portico-dev/portico/auth"
)

func Example() {
	ctx := context.Background()
	clients := auth.NewMemoryStore()
	authSvc, _ := auth.New(auth.Config{Store: clients})
	_, _ = authSvc.CreateClient(ctx, auth.NewClient{ID: "builder", Roles: []string{"admin"}})

	account, _ := nkeys.CreateAccount()
	keys, _ := apikey.New(apikey.Config{Clients: clients, Account: account})

	// An administrator makes a key that may publish under orders.
	admin := auth.Principal{Subject: "builder", ClientID: "builder", Roles: []string{"admin"}, Kind: auth.KindToken}
	k, secret, _ := keys.Create(ctx, admin, apikey.NewKey{
		Name: "order-service",
		Pub:  apikey.Permission{Allow: []string{"orders.>"}},
	})
	fmt.Println(apikey.LooksLikeKey(secret), len(secret))

	// The key authenticates a request ...
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("apiKey", secret)
	p, _ := keys.Authenticate(req)
	fmt.Println(p.Subject, p.Kind, p.TokenID == k.ID)

	// ... and exchanges for NATS credentials.
	creds, _ := keys.Exchange(ctx, p)
	claims, _ := jwt.DecodeUserClaims(creds.JWT)
	fmt.Println(claims.Issuer == keys.AccountPublicKey(), claims.Pub.Allow)
	// Output:
	// true 63
	// builder apikey true
	// true [orders.>]
}
