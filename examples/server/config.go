package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// config is the server's configuration, from flags with PORTICO_* twins in
// the environment; a flag given on the command line wins.
type config struct {
	addr   string
	data   string
	db     string
	memory bool

	natsAddr string // embedded NATS listen address, or "off"
	natsURL  string // an external NATS server instead of the embedded one

	adminPassword string // PORTICO_ADMIN_PASSWORD only: never a flag, so it stays out of ps
	signingKey    string // PORTICO_SIGNING_KEY only
	verifyKeys    string // PORTICO_VERIFY_KEYS only: comma-separated public keys
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("portico-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", envOr(getenv, "PORTICO_ADDR", "127.0.0.1:8080"), "listen address; port 0 picks a free one (PORTICO_ADDR)")
	fs.StringVar(&c.data, "data", envOr(getenv, "PORTICO_DATA", "./data"), "data directory for keys and state (PORTICO_DATA)")
	fs.StringVar(&c.db, "db", getenv("PORTICO_DB"), "SQLite path or PostgreSQL URL (PORTICO_DB); not yet supported")
	memDefault := strings.EqualFold(getenv("PORTICO_MEMORY"), "true") || getenv("PORTICO_MEMORY") == "1"
	fs.BoolVar(&c.memory, "memory", memDefault, "keep all state in memory (PORTICO_MEMORY)")
	fs.StringVar(&c.natsAddr, "nats-addr", envOr(getenv, "PORTICO_NATS_ADDR", "127.0.0.1:4222"), "embedded NATS listen address; port 0 picks a free one, off disables it (PORTICO_NATS_ADDR)")
	fs.StringVar(&c.natsURL, "nats-url", getenv("PORTICO_NATS_URL"), "use this external NATS server instead of the embedded one (PORTICO_NATS_URL)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: portico-server [flags]\n\nRuns the Portico platform server. Flags:")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nEnvironment only: PORTICO_ADMIN_PASSWORD, PORTICO_SIGNING_KEY, PORTICO_VERIFY_KEYS.")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.db != "" {
		// The SQL stores are not built yet; refusing beats silently running
		// on memory while the operator believes state is durable.
		return c, errors.New("-db: SQL stores are not available in this version; the server keeps its state in memory")
	}
	if c.natsURL != "" {
		c.natsAddr = "off"
	}
	c.adminPassword = getenv("PORTICO_ADMIN_PASSWORD")
	c.signingKey = getenv("PORTICO_SIGNING_KEY")
	c.verifyKeys = getenv("PORTICO_VERIFY_KEYS")
	return c, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
