package orchestrator

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A name that resolves to a private address passes CreateWebhook's check
// of the URL; the dialer refuses it when a delivery connects.
func TestDeliveriesRefusePrivateAddressesWhenDialling(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	e, err := New(Config{})
	require.NoError(t, err)
	_, err = e.hooks.client.Get(srv.URL)
	assert.ErrorIs(t, err, ErrPrivateTarget)

	e, err = New(Config{Webhooks: WebhookConfig{AllowPrivate: true}})
	require.NoError(t, err)
	resp, err := e.hooks.client.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "127.0.0.1": false, "10.0.0.1": false,
		"::1": false, "fe80::1": false, "169.254.1.1": false, "100.100.0.1": false,
		"::ffff:10.0.0.1": false, "224.0.0.1": false, "0.0.0.0": false,
	} {
		assert.Equal(t, want, publicAddr(netip.MustParseAddr(addr)), addr)
	}
}

func TestMatchEvent(t *testing.T) {
	assert.True(t, matchEvent(nil, "task.started"))
	assert.True(t, matchEvent([]string{"*"}, "task.started"))
	assert.True(t, matchEvent([]string{"task.*"}, "task.started"))
	assert.False(t, matchEvent([]string{"task.*"}, "tasks.started"))
	assert.False(t, matchEvent([]string{"batch.completed"}, "batch.failed"))
}
