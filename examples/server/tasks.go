package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/orchestrator"
)

// Limits of the demo task types.
const (
	maxSleep       = 10 * time.Minute
	maxMessage     = 4096
	httpTaskBody   = 1 << 20 // read and counted, not kept
	httpTaskTimout = 30 * time.Second
)

// newOrchestrator builds the engine with the demo task types, its
// metrics registered on reg.
func newOrchestrator(cfg config, store orchestrator.Store, reg prometheus.Registerer, log *slog.Logger) (*orchestrator.Engine, error) {
	return orchestrator.New(orchestrator.Config{
		Store:      store,
		Types:      demoTypes(cfg.taskHTTPAllow),
		Registerer: reg,
		Webhooks:   orchestrator.WebhookConfig{AllowPrivate: cfg.webhookAllowPrivate},
		Submitter: func(r *http.Request) string {
			p, _ := auth.FromContext(r.Context())
			return p.Subject
		},
		Logger: log,
	})
}

// demoTypes are the example server's task types: safe by construction,
// never a command. http may only reach URLs under an allowlisted prefix.
//
//	sleep {ms}      waits, reporting progress; undone by nothing
//	echo  {message} outputs the message; its compensation is a no-op
//	fail  {message} fails with the message, without retries
//	http  {url}     GETs an allowlisted URL; outputs the status and size
func demoTypes(httpAllow []string) map[string]orchestrator.TaskType {
	client := &http.Client{
		Timeout: httpTaskTimout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || !allowedURL(httpAllow, req.URL.String()) {
				return errors.New("redirect leaves the allowlist")
			}
			return nil
		},
	}
	return map[string]orchestrator.TaskType{
		"sleep": {
			Validate: func(args json.RawMessage) error {
				var a struct{ MS int64 }
				if err := strictArgs(args, &a); err != nil {
					return err
				}
				if a.MS < 0 || time.Duration(a.MS)*time.Millisecond > maxSleep {
					return fmt.Errorf("ms must be from 0 to %d", maxSleep.Milliseconds())
				}
				return nil
			},
			Run: func(ctx context.Context, t orchestrator.Task) (any, error) {
				var a struct{ MS int64 }
				_ = json.Unmarshal(t.Args, &a)
				total := time.Duration(a.MS) * time.Millisecond
				start := time.Now()
				tick := time.NewTicker(max(total/10, time.Millisecond))
				defer tick.Stop()
				done := time.NewTimer(total)
				defer done.Stop()
				for {
					select {
					case <-ctx.Done():
						return nil, ctx.Err()
					case <-done.C:
						return map[string]int64{"slept_ms": a.MS}, nil
					case <-tick.C:
						orchestrator.SetProgress(ctx, int(100*time.Since(start)/total))
					}
				}
			},
			Compensate: func(context.Context, orchestrator.Task) error { return nil },
			Idempotent: true,
		},
		"echo": {
			Validate: func(args json.RawMessage) error {
				var a struct{ Message string }
				if err := strictArgs(args, &a); err != nil {
					return err
				}
				if len(a.Message) > maxMessage {
					return fmt.Errorf("message is longer than %d bytes", maxMessage)
				}
				return nil
			},
			Run: func(_ context.Context, t orchestrator.Task) (any, error) {
				var a struct{ Message string }
				_ = json.Unmarshal(t.Args, &a)
				return map[string]string{"message": a.Message}, nil
			},
			Compensate: func(context.Context, orchestrator.Task) error { return nil },
			Idempotent: true,
		},
		"fail": {
			Validate: func(args json.RawMessage) error {
				var a struct{ Message string }
				return strictArgs(args, &a)
			},
			Run: func(_ context.Context, t orchestrator.Task) (any, error) {
				var a struct{ Message string }
				_ = json.Unmarshal(t.Args, &a)
				if a.Message == "" {
					a.Message = "failed on demand"
				}
				return nil, orchestrator.Permanent(errors.New(truncate(a.Message, maxMessage)))
			},
			Idempotent: true,
		},
		"http": {
			Validate: func(args json.RawMessage) error {
				var a struct{ URL string }
				if err := strictArgs(args, &a); err != nil {
					return err
				}
				if !allowedURL(httpAllow, a.URL) {
					return errors.New("url is not under a prefix the server allows (-task-http-allow)")
				}
				return nil
			},
			Run: func(ctx context.Context, t orchestrator.Task) (any, error) {
				var a struct{ URL string }
				_ = json.Unmarshal(t.Args, &a)
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
				if err != nil {
					return nil, orchestrator.Permanent(err)
				}
				resp, err := client.Do(req)
				if err != nil {
					return nil, err
				}
				defer resp.Body.Close()
				n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, httpTaskBody))
				if resp.StatusCode >= 500 {
					return nil, fmt.Errorf("status %d", resp.StatusCode)
				}
				return map[string]int64{"status": int64(resp.StatusCode), "bytes": n}, nil
			},
			Idempotent: true,
		},
	}
}

// strictArgs decodes an operation's args, refusing unknown fields.
func strictArgs(args json.RawMessage, v any) error {
	if len(args) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(args)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("are not the type's arguments: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// allowedURL reports whether raw is an http(s) URL under one of the
// prefixes.
func allowedURL(prefixes []string, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
		return false
	}
	for _, p := range prefixes {
		if p != "" && strings.HasPrefix(u.String(), p) {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
