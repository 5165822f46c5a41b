package rbac

import (
	"errors"
	"net/http"
	"strings"

	"github.com/portico-dev/portico/internal/httpapi"
)

// The permissions the Handler's admin routes require.
const (
	PermRead  = "roles.read"  // list and read roles, assignments and subjects' roles
	PermWrite = "roles.write" // create, change and delete roles and assignments
)

// errorStatus maps an error to its HTTP status, machine code and public
// message: the one place rbac's errors meet HTTP.
func errorStatus(err error) (status int, code, msg string) {
	var (
		decodeErr  *httpapi.DecodeError
		invalidErr *InvalidError
	)
	switch {
	case errors.As(err, &decodeErr):
		return decodeErr.Status, decodeErr.Code, decodeErr.Msg
	case errors.As(err, &invalidErr):
		return http.StatusBadRequest, "invalid_field", invalidErr.Field + " " + invalidErr.Reason
	case errors.Is(err, ErrNoSubject):
		return http.StatusUnauthorized, "missing_credentials", "authentication required"
	case errors.Is(err, ErrDenied):
		return http.StatusForbidden, "forbidden", strings.TrimPrefix(err.Error(), "rbac: ")
	case errors.Is(err, ErrBuiltin), errors.Is(err, ErrInUse):
		return http.StatusConflict, "conflict", strings.TrimPrefix(err.Error(), "rbac: ")
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found", "not found"
	case errors.Is(err, ErrExists):
		return http.StatusConflict, "conflict", "already exists"
	}
	return http.StatusInternalServerError, "internal", "internal server error"
}

func (a *Authorizer) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := errorStatus(err)
	httpapi.Fail(w, r, a.log, status, code, msg, err)
}

func (a *Authorizer) subject(r *http.Request) (Subject, bool) {
	if a.cfg.Subject == nil {
		return Subject{}, false
	}
	return a.cfg.Subject(r)
}

// Require returns middleware that lets a request through only if its
// subject (Config.Subject) holds permission: 401 without a subject, 403
// JSON naming the permission otherwise. It panics if permission is not a
// valid pattern, which is a wiring mistake.
func (a *Authorizer) Require(permission string) func(http.Handler) http.Handler {
	if err := ValidatePattern(permission); err != nil {
		panic(err)
	}
	denied := &deniedError{permission}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, ok := a.subject(r)
			if !ok {
				a.fail(w, r, ErrNoSubject)
				return
			}
			if err := a.Authorize(r.Context(), s, permission); err != nil {
				a.fail(w, r, denied)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// deniedError is ErrDenied naming the permission refused.
type deniedError struct{ permission string }

func (e *deniedError) Error() string { return "rbac: permission denied: " + e.permission }
func (e *deniedError) Unwrap() error { return ErrDenied }

// Handler serves role management, relative to where the host mounts it:
//
//	GET    /roles                         the caller's roles and permissions
//	GET    /admin/roles                   list roles (paged)          roles.read
//	POST   /admin/roles                   create a role               roles.write
//	GET    /admin/role/{name}             one role                    roles.read
//	PUT    /admin/role/{name}             replace a role              roles.write
//	DELETE /admin/role/{name}             delete a role               roles.write
//	GET    /admin/assignments             list assignments (paged)    roles.read
//	POST   /admin/assignments             assign roles to a group     roles.write
//	DELETE /admin/assignment/{group}      remove a group's roles      roles.write
//	GET    /admin/user/{subject}/roles    a subject's roles; with ?permission=p,
//	                                      also the decision on p      roles.read
//
// Every route needs a subject (Config.Subject); the admin routes also need
// the permission shown.
func (a *Authorizer) Handler() http.Handler {
	mux := http.NewServeMux()
	read, write := a.Require(PermRead), a.Require(PermWrite)
	mux.HandleFunc("GET /roles", a.handleOwn)
	mux.Handle("GET /admin/roles", read(http.HandlerFunc(a.handleListRoles)))
	mux.Handle("POST /admin/roles", write(http.HandlerFunc(a.handleCreateRole)))
	mux.Handle("GET /admin/role/{name}", read(http.HandlerFunc(a.handleGetRole)))
	mux.Handle("PUT /admin/role/{name}", write(http.HandlerFunc(a.handleUpdateRole)))
	mux.Handle("DELETE /admin/role/{name}", write(http.HandlerFunc(a.handleDeleteRole)))
	mux.Handle("GET /admin/assignments", read(http.HandlerFunc(a.handleListAssignments)))
	mux.Handle("POST /admin/assignments", write(http.HandlerFunc(a.handleAssign)))
	mux.Handle("DELETE /admin/assignment/{group}", write(http.HandlerFunc(a.handleUnassign)))
	mux.Handle("GET /admin/user/{subject}/roles", read(http.HandlerFunc(a.handleSubjectRoles)))
	return httpapi.Mux(mux)
}

func (a *Authorizer) handleOwn(w http.ResponseWriter, r *http.Request) {
	s, ok := a.subject(r)
	if !ok {
		a.fail(w, r, ErrNoSubject)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a.Effective(r.Context(), s))
}

// writePage answers with one page of items and the paging headers.
func writePage[T any](a *Authorizer, w http.ResponseWriter, r *http.Request, items []T, err error) {
	page, perr := httpapi.ParsePage(r)
	if err == nil {
		err = perr
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.SetPageHeaders(w, r, page, len(items))
	httpapi.WriteJSON(w, http.StatusOK, httpapi.Window(items, page.Limit, page.Offset))
}

func (a *Authorizer) handleListRoles(w http.ResponseWriter, r *http.Request) {
	roles, err := a.ListRoles(r.Context())
	writePage(a, w, r, roles, err)
}

func (a *Authorizer) handleListAssignments(w http.ResponseWriter, r *http.Request) {
	as, err := a.Assignments(r.Context())
	writePage(a, w, r, as, err)
}

// roleBody is what create and update accept: a Role without its
// server-set fields, so a client cannot claim builtin or backdate it.
type roleBody struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Permissions Permissions `json:"permissions"`
	Extensions  []string    `json:"extensions"`
}

func (b roleBody) role() Role {
	return Role{Name: b.Name, Description: b.Description, Permissions: b.Permissions, Extensions: b.Extensions}
}

func (a *Authorizer) handleCreateRole(w http.ResponseWriter, r *http.Request) {
	var b roleBody
	if err := httpapi.DecodeJSON(w, r, &b, a.cfg.MaxBodyBytes); err != nil {
		a.fail(w, r, err)
		return
	}
	role, err := a.CreateRole(r.Context(), b.role())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, role)
}

func (a *Authorizer) handleGetRole(w http.ResponseWriter, r *http.Request) {
	role, err := a.GetRole(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, role)
}

func (a *Authorizer) handleUpdateRole(w http.ResponseWriter, r *http.Request) {
	var b roleBody
	if err := httpapi.DecodeJSON(w, r, &b, a.cfg.MaxBodyBytes); err != nil {
		a.fail(w, r, err)
		return
	}
	name := r.PathValue("name")
	if b.Name != "" && b.Name != name {
		a.fail(w, r, invalid("name", "%q does not match the role in the path; roles cannot be renamed", b.Name))
		return
	}
	b.Name = name
	role, err := a.UpdateRole(r.Context(), b.role())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, role)
}

func (a *Authorizer) handleDeleteRole(w http.ResponseWriter, r *http.Request) {
	if err := a.DeleteRole(r.Context(), r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Authorizer) handleAssign(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Group string   `json:"group"`
		Roles []string `json:"roles"`
	}
	if err := httpapi.DecodeJSON(w, r, &b, a.cfg.MaxBodyBytes); err != nil {
		a.fail(w, r, err)
		return
	}
	as, err := a.Assign(r.Context(), Assignment{Group: b.Group, Roles: b.Roles})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, as)
}

func (a *Authorizer) handleUnassign(w http.ResponseWriter, r *http.Request) {
	if err := a.Unassign(r.Context(), r.PathValue("group")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Authorizer) handleSubjectRoles(w http.ResponseWriter, r *http.Request) {
	s, err := a.lookup(r.Context(), r.PathValue("subject"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e := a.Effective(r.Context(), s)
	perm := r.URL.Query().Get("permission")
	if perm == "" {
		httpapi.WriteJSON(w, http.StatusOK, e)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Effective
		Decision Decision `json:"decision"`
	}{e, a.Explain(r.Context(), s, perm)})
}
