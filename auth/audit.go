package auth

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/portico-dev/portico/internal/httpapi"
)

// AuditEvent records one security-relevant act. It never holds a token,
// password, key or secret.
type AuditEvent struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // login, refresh, logout, token.mint, token.revoke, client.create, ...
	// Actor is who acted (the caller's subject; for a login, the username
	// tried). Subject is whose account or tokens were acted on.
	Actor   string `json:"actor,omitempty"`
	Subject string `json:"subject,omitempty"`
	IP      string `json:"ip,omitempty"`
	Outcome string `json:"outcome"` // "success" or "failure"
	Detail  string `json:"detail,omitempty"`
}

type remoteIPKey struct{}

// withRemoteIP keeps the caller's IP in ctx for audit events.
func withRemoteIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, remoteIPKey{}, ip)
}

// audit reports an act by the caller in ctx.
func (s *Service) audit(ctx context.Context, action, subject string, err error, detail string) {
	if s.cfg.Audit == nil {
		return
	}
	p, _ := FromContext(ctx)
	s.auditAs(ctx, p.Subject, "", action, subject, err, detail)
}

func (s *Service) auditAs(ctx context.Context, actor, ip, action, subject string, err error, detail string) {
	if s.cfg.Audit == nil {
		return
	}
	if ip == "" {
		ip, _ = ctx.Value(remoteIPKey{}).(string)
	}
	e := AuditEvent{Time: s.now().UTC(), Action: action, Actor: actor, Subject: subject, IP: ip, Outcome: "success", Detail: detail}
	if err != nil {
		e.Outcome = "failure"
		if detail == "" {
			e.Detail = auditReason(err)
		}
	}
	s.cfg.Audit(e)
}

// auditReason is the failure's public message; internal errors are not
// copied into the log verbatim.
func auditReason(err error) string {
	if _, code, msg := errorStatus(err); code != "internal" {
		return msg
	}
	return "internal error"
}

// AuditLog keeps the newest audit events in a fixed-size ring. Pass its
// Record method as Config.Audit (and the other packages' audit hooks).
type AuditLog struct {
	mu     sync.Mutex
	events []AuditEvent
	next   int
	full   bool
}

// NewAuditLog returns a log that keeps the newest capacity events
// (10,000 if capacity <= 0).
func NewAuditLog(capacity int) *AuditLog {
	if capacity <= 0 {
		capacity = 10000
	}
	return &AuditLog{events: make([]AuditEvent, capacity)}
}

// Record adds an event, dropping the oldest when the log is full.
func (l *AuditLog) Record(e AuditEvent) {
	l.mu.Lock()
	l.events[l.next] = e
	l.next = (l.next + 1) % len(l.events)
	if l.next == 0 {
		l.full = true
	}
	l.mu.Unlock()
}

// AuditQuery filters the log. Subject matches an event's Actor or Subject;
// zero fields match everything; Since is inclusive, Until exclusive.
type AuditQuery struct {
	Subject string
	Action  string
	Since   time.Time
	Until   time.Time
	Limit   int // 0: all
	Offset  int
}

// Query returns the matching events, newest first, and how many matched.
func (l *AuditLog) Query(q AuditQuery) ([]AuditEvent, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.events)
	}
	var out []AuditEvent
	for i := 1; i <= n; i++ {
		e := l.events[(l.next-i+len(l.events))%len(l.events)]
		if (q.Subject == "" || e.Actor == q.Subject || e.Subject == q.Subject) &&
			(q.Action == "" || e.Action == q.Action) &&
			(q.Since.IsZero() || !e.Time.Before(q.Since)) &&
			(q.Until.IsZero() || e.Time.Before(q.Until)) {
			out = append(out, e)
		}
	}
	return httpapi.Window(out, q.Limit, q.Offset), len(out)
}

// Handler serves the log as JSON for GET requests, filtered by ?subject=,
// ?action=, ?since= and ?until= (RFC 3339) and paginated by ?limit= and
// ?offset=. It does no access control: mount it behind an administrator
// check.
func (l *AuditLog) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := httpapi.ParsePage(r)
		if err != nil {
			writeError(w, err)
			return
		}
		qs := r.URL.Query()
		q := AuditQuery{Subject: qs.Get("subject"), Action: qs.Get("action"), Limit: page.Limit, Offset: page.Offset}
		for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
			if v := qs.Get(name); v != "" {
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					writeError(w, invalid(name, "must be an RFC 3339 time"))
					return
				}
				*dst = t
			}
		}
		events, total := l.Query(q)
		httpapi.SetPageHeaders(w, r, page, total)
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"events": events, "total": total})
	})
}
