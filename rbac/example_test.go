package rbac_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/portico-dev/portico/rbac"
)

func Example() {
	ctx := context.Background()
	authz, _ := rbac.New(rbac.Config{AdminSubjects: []string{"admin"}, DefaultRole: "viewer"})
	_, _ = authz.CreateRole(ctx, rbac.Role{
		Name:        "operator",
		Permissions: rbac.Permissions{Allow: []string{"orchestrator.batch.*", "keys.>"}, Deny: []string{"keys.delete"}},
	})
	_, _ = authz.CreateRole(ctx, rbac.Role{Name: "viewer", Permissions: rbac.Permissions{Allow: []string{"extensions.read"}}})
	_, _ = authz.Assign(ctx, rbac.Assignment{Group: "ops-team", Roles: []string{"operator"}})

	alice := rbac.Subject{ID: "alice", Groups: []string{"ops-team"}}
	fmt.Println(authz.Authorize(ctx, alice, "orchestrator.batch.execute"))
	fmt.Println(authz.Authorize(ctx, alice, "keys.delete"))
	fmt.Println(authz.Explain(ctx, alice, "keys.delete").Reason)
	fmt.Println(authz.Authorize(ctx, rbac.Subject{ID: "bob"}, "extensions.read"))
	// Output:
	// <nil>
	// rbac: permission denied
	// denied by role "operator" pattern "keys.delete"
	// <nil>
}

func ExampleAuthorizer_Require() {
	authz, _ := rbac.New(rbac.Config{
		AdminSubjects: []string{"admin"},
		// A real host reads its authenticated caller, e.g. auth.FromContext.
		Subject: func(r *http.Request) (rbac.Subject, bool) {
			id := r.Header.Get("X-Demo-User")
			return rbac.Subject{ID: id}, id != ""
		},
	})
	h := authz.Require("reports.read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the report")
	}))
	for _, user := range []string{"admin", "mallory", ""} {
		req := httptest.NewRequest("GET", "/reports", nil)
		req.Header.Set("X-Demo-User", user)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 the report
	// 403 {"error":"permission denied: reports.read","code":"forbidden"}
	// 401 {"error":"authentication required","code":"missing_credentials"}
}
