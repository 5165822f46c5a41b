package rbac_test

import (
	"fmt"
	"testing"

	"github.com/portico-dev/portico/rbac"
)

// BenchmarkAuthorize measures the hot-path decision. Run:
//
//	go test ./rbac -run X -bench Authorize -benchmem
func BenchmarkAuthorize(b *testing.B) {
	a := newAuthorizer(b, rbac.Config{})
	mustRole(b, a, "keys", []string{"keys.create", "keys.read"}, []string{"keys.delete"})
	wild := make([]string, 1000)
	for i := range wild {
		wild[i] = fmt.Sprintf("svc%d.*.op%d.>", i, i%17)
	}
	mustRole(b, a, "wild", wild, []string{"svc7.*.secret.>"})
	_, err := a.Assign(ctx, rbac.Assignment{Group: "staff", Roles: []string{"wild"}})
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		s    rbac.Subject
		perm string
	}{
		{"exact", rbac.Subject{ID: "u", Roles: []string{"keys"}}, "keys.create"},
		{"exact-denied", rbac.Subject{ID: "u", Roles: []string{"keys"}}, "keys.delete"},
		{"1k-wildcards", rbac.Subject{ID: "u", Roles: []string{"wild"}}, "svc999.eu.op13.read"},
		{"1k-wildcards-via-group", rbac.Subject{ID: "u", Groups: []string{"staff"}}, "svc500.eu.op7.x.y"},
		{"1k-wildcards-no-match", rbac.Subject{ID: "u", Roles: []string{"wild", "keys"}}, "svc500.eu.op8.read"},
		{"admin", rbac.Subject{ID: "root"}, "anything.at.all"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = a.Authorize(ctx, c.s, c.perm)
			}
		})
	}
	b.Run("parallel-exact", func(b *testing.B) {
		b.ReportAllocs()
		s := rbac.Subject{ID: "u", Roles: []string{"keys"}}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = a.Authorize(ctx, s, "keys.create")
			}
		})
	})
}
