// Command server runs the whole Portico platform in one process: the
// reference deployment of every package, with no setup required.
//
//	go run ./examples/server
//
// It listens on 127.0.0.1:8080 (-addr), keeps its signing key and NATS
// operator and account seeds in ./data (-data), runs an embedded NATS server
// in operator mode on 127.0.0.1:4222 (-nats-addr; -nats-url for an external
// one), and creates an admin client whose password comes from
// PORTICO_ADMIN_PASSWORD or is generated and printed once. It limits each
// client IP to 20 requests a minute on the authentication routes
// (-rate-auth) and 60 on every other non-public route (-rate-general),
// once across every instance on a PostgreSQL database and per instance
// otherwise (-rate-store); forwarded headers count only from
// -trusted-proxies. See -help for every flag; each has a PORTICO_*
// environment twin.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/sqlstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "portico-server:", err)
		os.Exit(1)
	}
}

// run starts the server and blocks until ctx is done, then shuts down
// gracefully. ready, if not nil, is called with the listening address once
// the server accepts connections.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(addr string)) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	p, err := newPlatform(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	defer p.close()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           p.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.auth.Run(runCtx) })
	wg.Go(func() { _ = p.keys.Run(runCtx) })
	wg.Go(func() { _ = p.limiter.Run(runCtx) })
	wg.Go(func() { _ = p.ext.Run(runCtx) })
	if p.stores.db != nil && p.stores.db.Dialect() == sqlstore.Postgres {
		// Other instances share the database: follow their changes, and
		// serve only once following (until then the caches could hide a
		// revocation). On SQLite this instance is the only writer, and its
		// services keep their own caches current.
		following := make(chan struct{})
		followDone := make(chan error, 1)
		wg.Go(func() { followDone <- p.followChanges(runCtx, p.stores.db, following) })
		select {
		case <-following:
		case err := <-followDone:
			cancel()
			wg.Wait()
			return fmt.Errorf("following changes: %w", cmp.Or(err, errors.New("stopped while starting")))
		}
	}
	// The orchestrator stops as shutdown begins, so its event streams end
	// and running tasks are left for the next start to recover.
	orchCtx, stopOrch := context.WithCancel(runCtx)
	defer stopOrch()
	srv.RegisterOnShutdown(stopOrch)
	orchDone := make(chan error, 1)
	wg.Go(func() { orchDone <- p.orch.Run(orchCtx) })
	select {
	case <-p.orch.Started():
	case err := <-orchDone:
		cancel()
		wg.Wait()
		return fmt.Errorf("orchestrator: %w", cmp.Or(err, errors.New("stopped while starting")))
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	log.Info("portico listening", "addr", ln.Addr().String(), "url", url+"/api/v1", "store", p.storeName, "nats", p.natsURL)
	p.ready.Store(true)
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("shutting down")
		p.ready.Store(false)
		shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutdownCtx)
		done()
	}
	cancel()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// bootstrapAdmin creates the admin client if it does not exist. Its
// password is PORTICO_ADMIN_PASSWORD, or a generated one printed once to
// stderr (never logged, and never a fixed default).
func bootstrapAdmin(ctx context.Context, svc *auth.Service, password string, stderr io.Writer) error {
	generated := password == ""
	if generated {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		password = base64.RawURLEncoding.EncodeToString(b)
	}
	created, err := svc.EnsureClient(ctx, auth.NewClient{ID: "admin", Name: "Administrator", Password: password, Roles: []string{"admin"}})
	if err != nil {
		return fmt.Errorf("create admin client: %w", err)
	}
	if created && generated {
		fmt.Fprintf(stderr, "\n  Created client \"admin\" with password: %s\n  It is shown only now; set PORTICO_ADMIN_PASSWORD to choose your own.\n\n", password)
	}
	return nil
}
