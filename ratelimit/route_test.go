package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRouteMatch(t *testing.T) {
	tests := []struct {
		pattern string
		method  string
		path    string
		want    bool
	}{
		{"POST /auth/login", "POST", "/auth/login", true},
		{"POST /auth/login", "GET", "/auth/login", false},
		{"POST /auth/login", "POST", "/auth/login/", false},
		{"POST /auth/login", "POST", "/auth/log", false},
		{"POST /auth/login", "POST", "/auth/loginx", false},
		{"GET /usertoken", "HEAD", "/usertoken", true},
		{"HEAD /usertoken", "GET", "/usertoken", false},
		{"PUT /key/{id}", "PUT", "/key/abc", true},
		{"PUT /key/{id}", "PUT", "/key/", false},
		{"PUT /key/{id}", "PUT", "/key/abc/revoke", false},
		{"/key/{id}/revoke", "POST", "/key/abc/revoke", true},
		{"/key/{id}/revoke", "DELETE", "/key/abc/revoke", true},
		{"/admin/", "GET", "/admin/", true},
		{"/admin/", "GET", "/admin/roles/x", true},
		{"/admin/", "GET", "/admin", false},
		{"/admin/", "GET", "/administrator", false},
		{"/files/{path...}", "GET", "/files/a/b/c", true},
		{"/files/{path...}", "GET", "/files", false},
		{"/", "GET", "/", true},
		{"/", "GET", "/anything/at/all", true},
		{"/a/{$}", "GET", "/a/", true},
		{"/a/{$}", "GET", "/a/b", false},
		{"/a/{$}", "GET", "/a", false},
		{"GET /{a}/{b}", "GET", "/x/y", true},
		{"GET /{a}/{b}", "GET", "/x//y", false},
	}
	for _, tt := range tests {
		rs, err := parseRoutes([]string{tt.pattern})
		require.NoError(t, err, tt.pattern)
		assert.Equal(t, tt.want, rs.match(tt.method, tt.path), "%q against %s %s", tt.pattern, tt.method, tt.path)
	}

	// Together, each pattern still matches what it matches alone.
	var all []string
	for _, tt := range tests {
		if tt.pattern != "/" { // the catch-all would match everything
			all = append(all, tt.pattern)
		}
	}
	rs, err := parseRoutes(all)
	require.NoError(t, err)
	for _, tt := range tests {
		if tt.want && tt.pattern != "/" {
			assert.True(t, rs.match(tt.method, tt.path), "%s %s in the combined set", tt.method, tt.path)
		}
	}
	assert.False(t, rs.match("PATCH", "/nothing/here"))
	assert.False(t, routeSet{}.match("GET", "/"), "an empty set matches nothing")
}

func TestRouteParseErrors(t *testing.T) {
	for _, p := range []string{
		"", "auth/login", "get /x", "GET", "GET  ", "example.com/x", "/a//b", "/a/{x}y", "/a/{}",
		"/a/{$}/b", "/a/{rest...}/b", "/a/{x/y}", "/{a{b}}",
	} {
		_, err := parseRoute(p)
		assert.Error(t, err, "pattern %q", p)
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/clusterprofiles":            "/v1/clusterprofiles",
		"/v1/x/../clusterprofiles":       "/v1/clusterprofiles",
		"/v1//clusterprofiles/":          "/v1/clusterprofiles/",
		"/v1/./clusterprofiles/./macros": "/v1/clusterprofiles/macros",
		"/.well-known/openid":            "/.well-known/openid",
		"/v1/a%2F..%2Fb":                 "/v1/a%2F..%2Fb", // escaped: one segment, as ServeMux routes it
		"/../../etc":                     "/etc",
	} {
		r := httptest.NewRequest(http.MethodGet, "http://h"+in, nil)
		assert.Equal(t, want, cleanPath(r), in)
	}
}

func FuzzRoute(f *testing.F) {
	f.Add("PUT /key/{id}", "PUT", "/key/abc")
	f.Add("/files/{p...}", "GET", "/files/a/b")
	f.Add("/a/{$}", "GET", "/a/")
	f.Fuzz(func(t *testing.T, pattern, method, path string) {
		r, err := parseRoute(pattern)
		if err != nil {
			return
		}
		rs, err := parseRoutes([]string{pattern, "POST /other/{x}"})
		require.NoError(t, err)
		if len(path) == 0 || path[0] != '/' {
			return // match takes absolute paths only
		}
		got := rs.match(method, path) // must not panic
		if r.method == "" && len(r.segs) == 0 && r.tail == tailPrefix {
			require.True(t, got, "%q matches every absolute path", pattern)
		}
	})
}
