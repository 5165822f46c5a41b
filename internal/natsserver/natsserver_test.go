package natsserver_test

import (
	"context"
	"net"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/internal/natsserver"
)

func accountJWT(t *testing.T, operator, account nkeys.KeyPair, revoke ...string) string {
	t.Helper()
	pub, _ := account.PublicKey()
	ac := jwt.NewAccountClaims(pub)
	for _, u := range revoke {
		ac.Revoke(u)
	}
	tok, err := ac.Encode(operator)
	require.NoError(t, err)
	return tok
}

func TestStartConnectPublish(t *testing.T) {
	operator, _ := nkeys.CreateOperator()
	account, _ := nkeys.CreateAccount()
	srv, err := natsserver.Start(natsserver.Config{Addr: "127.0.0.1:0", Operator: operator, AccountJWT: accountJWT(t, operator, account)})
	require.NoError(t, err)
	defer srv.Shutdown()
	require.NoError(t, srv.Healthy())

	user, _ := nkeys.CreateUser()
	userPub, _ := user.PublicKey()
	seed, _ := user.Seed()
	userJWT, err := jwt.NewUserClaims(userPub).Encode(account)
	require.NoError(t, err)
	nc, err := nats.Connect(srv.URL(), nats.UserJWTAndSeed(userJWT, string(seed)), nats.NoReconnect())
	require.NoError(t, err, "a user of the trusted account connects")
	nc.Close()

	require.NoError(t, srv.PublishAccount(context.Background(), accountJWT(t, operator, account, userPub)))
	_, err = nats.Connect(srv.URL(), nats.UserJWTAndSeed(userJWT, string(seed)), nats.NoReconnect())
	assert.Error(t, err, "a revoked user is refused after PublishAccount")

	other, _ := nkeys.CreateAccount()
	otherJWT, _ := jwt.NewUserClaims(userPub).Encode(other)
	_, err = nats.Connect(srv.URL(), nats.UserJWTAndSeed(otherJWT, string(seed)), nats.NoReconnect())
	assert.Error(t, err, "a user of an unknown account is refused")
	assert.Error(t, srv.PublishAccount(context.Background(), "not a jwt"))
}

func TestStartErrors(t *testing.T) {
	operator, _ := nkeys.CreateOperator()
	account, _ := nkeys.CreateAccount()
	good := accountJWT(t, operator, account)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	for name, cfg := range map[string]natsserver.Config{
		"no port":     {Addr: "127.0.0.1", Operator: operator, AccountJWT: good},
		"bad port":    {Addr: "127.0.0.1:x", Operator: operator, AccountJWT: good},
		"no operator": {Addr: "127.0.0.1:0", AccountJWT: good},
		"bad account": {Addr: "127.0.0.1:0", Operator: operator, AccountJWT: "nope"},
		"busy port":   {Addr: busy.Addr().String(), Operator: operator, AccountJWT: good},
	} {
		_, err := natsserver.Start(cfg)
		assert.Error(t, err, name)
	}
}
