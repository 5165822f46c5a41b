package apikey_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/apikey"
	"github.com/portico-dev/portico/internal/natsserver"
)

// TestRealNATSServer runs nats-server in operator mode trusting the
// harness's operator, exchanges API keys over HTTP for credentials, and
// checks what the server lets those credentials do.
func TestRealNATSServer(t *testing.T) {
	var srv *natsserver.Server
	h := newHarness(t, func(c *apikey.Config) {
		c.Now = nil // the NATS server checks expiry with the real clock
		c.PublishAccount = func(ctx context.Context, jwt string) error { return srv.PublishAccount(ctx, jwt) }
	})
	accountJWT, err := h.keys.AccountJWT(ctx)
	require.NoError(t, err)
	srv, err = natsserver.Start(natsserver.Config{Addr: "127.0.0.1:0", Operator: h.operator, AccountJWT: accountJWT})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	require.NoError(t, srv.Healthy())

	_, secret := h.create("alice", apikey.NewKey{Name: "svc",
		Pub: apikey.Permission{Allow: []string{"orders.>"}, Deny: []string{"orders.secret"}},
		Sub: apikey.Permission{Allow: []string{"events.*"}}})
	rec := h.do("GET", "/apikey?creds=true", "Bearer "+secret, "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	creds := decode[struct {
		apikey.Credentials
		Creds string `json:"creds"`
	}](t, rec)
	require.NotEmpty(t, creds.JWT)
	require.NotEmpty(t, creds.Creds)

	// An admin's key that may subscribe to orders.> watches what gets through.
	_, watcherSecret := h.create("admin", apikey.NewKey{Name: "watcher", Sub: apikey.Permission{Allow: []string{"orders.>", "events.>"}}})
	rec = h.do("GET", "/apikey", "Bearer "+watcherSecret, "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	watcherCreds := decode[apikey.Credentials](t, rec)
	watcher, err := nats.Connect(srv.URL(), nats.UserJWTAndSeed(watcherCreds.JWT, watcherCreds.Seed))
	require.NoError(t, err)
	defer watcher.Close()
	got, err := watcher.SubscribeSync("orders.>")
	require.NoError(t, err)
	require.NoError(t, watcher.Flush())

	// The credentials connect, from the .creds file form.
	errs := make(chan error, 8)
	closed := make(chan struct{})
	nc, err := nats.Connect(srv.URL(), nats.UserCredentials(writeCreds(t, creds.Creds)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.NoReconnect())
	require.NoError(t, err, "credentials from GET /apikey connect")
	defer nc.Close()

	// Inside the allow list: delivered.
	require.NoError(t, nc.Publish("orders.new", []byte("hello")))
	require.NoError(t, nc.Flush())
	msg, err := got.NextMsg(5 * time.Second)
	require.NoError(t, err, "a publish inside the allow list is delivered")
	assert.Equal(t, "orders.new", msg.Subject)

	// Outside it, and on the deny list: refused by the server.
	for _, subj := range []string{"billing.new", "orders.secret"} {
		require.NoError(t, nc.Publish(subj, []byte("x")))
		require.NoError(t, nc.Flush())
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, nats.ErrPermissionViolation, "publish to %s", subj)
		case <-time.After(5 * time.Second):
			t.Fatalf("no permissions violation for %s", subj)
		}
		_, err = got.NextMsg(100 * time.Millisecond)
		assert.ErrorIs(t, err, nats.ErrTimeout, "%s was not delivered", subj)
	}
	// Subscribing outside the sub allow list is refused too.
	_, err = nc.SubscribeSync("billing.>")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, nats.ErrPermissionViolation, "subscribe to billing.>")
	case <-time.After(5 * time.Second):
		t.Fatal("no permissions violation for the subscription")
	}

	// Revoke the key over HTTP: the live connection is closed and the
	// credentials no longer connect.
	keyID := creds.ID
	rec = h.do("POST", "/key/"+keyID+"/revoke", "Bearer "+h.token("alice"), "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection of revoked credentials stayed open")
	}
	_, err = nats.Connect(srv.URL(), nats.UserJWTAndSeed(creds.JWT, creds.Seed), nats.NoReconnect())
	require.Error(t, err, "revoked credentials are refused")
	assert.True(t, errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthRevoked), "got %v", err)

	// The watcher's credentials, of a key still valid, keep working.
	require.NoError(t, watcher.Flush())
	assert.True(t, watcher.IsConnected(), "only the revoked key's connection was closed")
}
