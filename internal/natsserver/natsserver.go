// Package natsserver runs an embedded NATS server in operator mode, trusting
// one operator and resolving one account from memory, for the example
// server and for tests that need a real NATS server. It is the only
// package that imports nats-server.
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Config configures Start.
type Config struct {
	// Addr is the listen address, host:port; port 0 picks a free one.
	Addr string
	// Operator is the operator key pair the server trusts; its JWT is made
	// and self-signed here.
	Operator nkeys.KeyPair
	// AccountJWT is the account's first JWT, signed by Operator.
	AccountJWT string
	// ReadyTimeout bounds the wait for the server to accept connections.
	// Zero: 10 seconds.
	ReadyTimeout time.Duration
}

// Server is a running embedded NATS server.
type Server struct {
	srv      *server.Server
	resolver *server.MemAccResolver
}

// Start starts the server and waits until it accepts connections.
func Start(cfg Config) (*Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("natsserver: address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("natsserver: address %q: bad port", cfg.Addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else {
		// nats-server reports a busy port only in its log; find out here,
		// so the caller gets the reason rather than a timeout.
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("natsserver: %w", err)
		}
		ln.Close()
	}
	if cfg.Operator == nil {
		return nil, errors.New("natsserver: Config.Operator is required")
	}
	opPub, err := cfg.Operator.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("natsserver: operator key: %w", err)
	}
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "portico"
	opJWT, err := oc.Encode(cfg.Operator)
	if err != nil {
		return nil, fmt.Errorf("natsserver: sign operator JWT: %w", err)
	}
	if oc, err = jwt.DecodeOperatorClaims(opJWT); err != nil {
		return nil, fmt.Errorf("natsserver: operator JWT: %w", err)
	}
	ac, err := jwt.DecodeAccountClaims(cfg.AccountJWT)
	if err != nil {
		return nil, fmt.Errorf("natsserver: account JWT: %w", err)
	}
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(ac.Subject, cfg.AccountJWT); err != nil {
		return nil, err
	}
	srv, err := server.NewServer(&server.Options{
		Host:             host,
		Port:             port,
		NoLog:            true,
		NoSigs:           true,
		TrustedOperators: []*jwt.OperatorClaims{oc},
		AccountResolver:  resolver,
		MaxPayload:       1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	srv.Start()
	timeout := cfg.ReadyTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if !srv.ReadyForConnections(timeout) {
		srv.Shutdown()
		return nil, errors.New("natsserver: not ready for connections in time")
	}
	return &Server{srv: srv, resolver: resolver}, nil
}

// URL is the nats:// URL clients connect to.
func (s *Server) URL() string { return s.srv.ClientURL() }

// PublishAccount installs a new JWT for the account: the resolver serves
// it from now on and the live account takes its claims, so revoked users
// are refused and their connections closed. It is apikey.Config's
// PublishAccount for the embedded server.
func (s *Server) PublishAccount(_ context.Context, accountJWT string) error {
	ac, err := jwt.DecodeAccountClaims(accountJWT)
	if err != nil {
		return fmt.Errorf("natsserver: account JWT: %w", err)
	}
	if err := s.resolver.Store(ac.Subject, accountJWT); err != nil {
		return err
	}
	acc, err := s.srv.LookupAccount(ac.Subject)
	if err != nil {
		return fmt.Errorf("natsserver: look up account: %w", err)
	}
	s.srv.UpdateAccountClaims(acc, ac)
	return nil
}

// Healthy reports whether the server is running and accepting clients.
func (s *Server) Healthy() error {
	if !s.srv.Running() || s.srv.Addr() == nil {
		return errors.New("natsserver: not accepting connections")
	}
	return nil
}

// Shutdown stops the server and waits for it.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}
