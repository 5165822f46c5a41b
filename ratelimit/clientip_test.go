package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientIP(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		header  string // Config.ForwardedHeader
		remote  string
		set     map[string][]string
		want    string // the client address
		wantKey string // its bucket key
	}{
		{name: "peer v4", remote: "203.0.113.7:5555", want: "203.0.113.7", wantKey: "203.0.113.7"},
		{name: "peer v6", remote: "[2001:db8:1:2::7]:5555", want: "2001:db8:1:2::7", wantKey: "2001:db8:1:2::/64"},
		{name: "peer v4-mapped v6", remote: "[::ffff:203.0.113.7]:80", want: "203.0.113.7", wantKey: "203.0.113.7"},
		{name: "peer with zone", remote: "[fe80::1%eth0]:80", want: "fe80::1", wantKey: "fe80::/64"},
		{name: "unparsable peer", remote: "@", want: "@", wantKey: "unknown"},
		{
			name: "spoofed X-Forwarded-For without trusted proxies", remote: "203.0.113.7:1",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, want: "203.0.113.7", wantKey: "203.0.113.7",
		},
		{
			name: "X-Forwarded-For from an untrusted peer", trusted: []string{"10.0.0.0/8"}, remote: "203.0.113.7:1",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, want: "203.0.113.7", wantKey: "203.0.113.7",
		},
		{
			name: "X-Forwarded-For from a trusted proxy", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:1",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, want: "198.51.100.1", wantKey: "198.51.100.1",
		},
		{
			name: "the client's own entries left of the real one are ignored", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:1",
			set: map[string][]string{"X-Forwarded-For": {"1.1.1.1, 2.2.2.2, 198.51.100.1"}}, want: "198.51.100.1", wantKey: "198.51.100.1",
		},
		{
			name: "a chain of trusted proxies is skipped", trusted: []string{"10.0.0.0/8", "192.168.1.1"}, remote: "10.1.2.3:1",
			set: map[string][]string{"X-Forwarded-For": {"6.6.6.6, 198.51.100.1, 192.168.1.1", "10.9.9.9"}}, want: "198.51.100.1", wantKey: "198.51.100.1",
		},
		{
			name: "every hop trusted: the leftmost", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:1",
			set: map[string][]string{"X-Forwarded-For": {"10.0.0.9,10.0.0.8"}}, want: "10.0.0.9", wantKey: "10.0.0.9",
		},
		{
			name: "an unparsable hop ends the walk at the proxy that sent it", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:1",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.1, not-an-ip"}}, want: "10.1.2.3", wantKey: "10.1.2.3",
		},
		{
			name: "X-Forwarded-For with a port and IPv6", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:1",
			set: map[string][]string{"X-Forwarded-For": {"[2001:db8:aa:bb::1]:443"}}, want: "2001:db8:aa:bb::1", wantKey: "2001:db8:aa:bb::/64",
		},
		{
			name: "Forwarded is ignored when X-Forwarded-For is configured", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:1",
			set: map[string][]string{"Forwarded": {"for=198.51.100.1"}}, want: "10.1.2.3", wantKey: "10.1.2.3",
		},
		{
			name: "Forwarded", trusted: []string{"10.0.0.0/8"}, header: "Forwarded", remote: "10.1.2.3:1",
			set:  map[string][]string{"Forwarded": {`for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https;by=10.1.2.3`}},
			want: "2001:db8:cafe::17", wantKey: "2001:db8:cafe::/64",
		},
		{
			name: "Forwarded with a v4 port and case", trusted: []string{"10.0.0.0/8"}, header: "forwarded", remote: "10.1.2.3:1",
			set: map[string][]string{"Forwarded": {`proto=http;For="198.51.100.1:8080"`}}, want: "198.51.100.1", wantKey: "198.51.100.1",
		},
		{
			name: "Forwarded obfuscated identifier ends the walk", trusted: []string{"10.0.0.0/8"}, header: "Forwarded", remote: "10.1.2.3:1",
			set: map[string][]string{"Forwarded": {`for=198.51.100.1, for=_hidden`}}, want: "10.1.2.3", wantKey: "10.1.2.3",
		},
		{
			name: "X-Forwarded-For is ignored when Forwarded is configured", trusted: []string{"10.0.0.0/8"}, header: "Forwarded", remote: "10.1.2.3:1",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, want: "10.1.2.3", wantKey: "10.1.2.3",
		},
		{
			name: "trusted IPv6 proxy and a mapped trusted entry", trusted: []string{"2001:db8:ffff::/48", "::ffff:10.0.0.0/104"}, remote: "[2001:db8:ffff::1]:1",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.1, 10.0.0.1"}}, want: "198.51.100.1", wantKey: "198.51.100.1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := newIPResolver(tt.trusted, tt.header)
			require.NoError(t, err)
			l := &Limiter{ips: res}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.set {
				r.Header[k] = v
			}
			assert.Equal(t, tt.want, l.ClientIP(r), "client address")
			addr, text, ok := res.resolve(r)
			key := "unknown"
			if ok {
				key = ipKey(addr, text)
			}
			assert.Equal(t, tt.wantKey, key, "bucket key")
		})
	}
}

func TestIPv6BucketsBy64(t *testing.T) {
	res, err := newIPResolver(nil, "")
	require.NoError(t, err)
	key := func(remote string) string {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		a, text, _ := res.resolve(r)
		return ipKey(a, text)
	}
	same := key("[2001:db8:1:2::1]:1")
	assert.Equal(t, same, key("[2001:db8:1:2:ffff:ffff:ffff:ffff]:2"), "one /64 is one client")
	assert.NotEqual(t, same, key("[2001:db8:1:3::1]:1"), "the next /64 is another")
}

func TestResolverConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		trusted []string
		header  string
	}{
		{trusted: []string{"10.0.0.0/33"}},
		{trusted: []string{"not-an-ip"}},
		{trusted: []string{"::ffff:10.0.0.0/64"}},
		{header: "X-Real-IP"},
	} {
		_, err := newIPResolver(tt.trusted, tt.header)
		assert.Error(t, err, "trusted %v header %q", tt.trusted, tt.header)
	}
}

func FuzzForwarded(f *testing.F) {
	f.Add(`for=192.0.2.60;proto=http;by=203.0.113.43`, "198.51.100.1, 10.0.0.1")
	f.Add(`for="[2001:db8:cafe::17]:4711"`, "[2001:db8::1]:80")
	f.Add(`for=unknown, for=_x`, ",,,")
	xff, _ := newIPResolver([]string{"10.0.0.0/8"}, HeaderXForwardedFor)
	fwd, _ := newIPResolver([]string{"10.0.0.0/8"}, HeaderForwarded)
	f.Fuzz(func(t *testing.T, forwarded, forwardedFor string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.0.0.1:1"
		r.Header.Set("Forwarded", forwarded)
		r.Header.Set("X-Forwarded-For", forwardedFor)
		for _, res := range []ipResolver{xff, fwd} {
			a, text, ok := res.resolve(r)
			require.True(t, ok, "a parsable peer always yields an address")
			require.True(t, a.IsValid())
			if text != "" {
				require.Equal(t, a.String(), text, "the reused text is canonical")
			}
		}
	})
}
