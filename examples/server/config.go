package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
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

	rateAuth       int      // requests per minute per IP on the authentication routes; 0: off
	rateGeneral    int      // requests per minute per IP on every other non-public route; 0: off
	rateDryRun     bool     // count and set headers, deny nothing
	rateStore      string   // "memory", "db", or "" for db on PostgreSQL and memory otherwise
	trustedProxies []string // proxies whose X-Forwarded-For is believed

	validateRequests     bool                // check proxied requests against the extensions' OpenAPI documents
	moduleUpstream       string              // where dependency modules come from; "" for none
	licenseKeys          []ed25519.PublicKey // vendor keys licences must be signed with; nil: licensing off
	unlicensedExtensions int                 // the extension cap without a valid licence, when licensing is on

	webhookAllowPrivate bool     // let orchestrator webhooks target loopback and private networks
	taskHTTPAllow       []string // URL prefixes the demo http task may GET

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
	fs.StringVar(&c.db, "db", getenv("PORTICO_DB"), "SQLite path or postgres:// URL (PORTICO_DB); default: portico.db in the data directory")
	fs.BoolVar(&c.memory, "memory", envBool(getenv, "PORTICO_MEMORY"), "keep all state in memory (PORTICO_MEMORY)")
	fs.StringVar(&c.natsAddr, "nats-addr", envOr(getenv, "PORTICO_NATS_ADDR", "127.0.0.1:4222"), "embedded NATS listen address; port 0 picks a free one, off disables it (PORTICO_NATS_ADDR)")
	fs.StringVar(&c.natsURL, "nats-url", getenv("PORTICO_NATS_URL"), "use this external NATS server instead of the embedded one (PORTICO_NATS_URL)")
	rateAuth, err := envInt(getenv, "PORTICO_RATE_AUTH", 20)
	if err != nil {
		return c, err
	}
	rateGeneral, err := envInt(getenv, "PORTICO_RATE_GENERAL", 60)
	if err != nil {
		return c, err
	}
	fs.IntVar(&c.rateAuth, "rate-auth", rateAuth, "requests per minute per IP on login, usertoken, key creation and update; 0 turns the limit off (PORTICO_RATE_AUTH)")
	fs.IntVar(&c.rateGeneral, "rate-general", rateGeneral, "requests per minute per IP on every other non-public route; 0 turns the limit off (PORTICO_RATE_GENERAL)")
	fs.StringVar(&c.rateStore, "rate-store", getenv("PORTICO_RATE_STORE"), "where rate-limit buckets live: memory (per instance) or db (shared by every instance on the database); default: db on PostgreSQL, memory otherwise (PORTICO_RATE_STORE)")
	fs.BoolVar(&c.rateDryRun, "rate-dry-run", envBool(getenv, "PORTICO_RATE_DRY_RUN"), "count requests and set rate-limit headers, but deny none (PORTICO_RATE_DRY_RUN)")
	fs.BoolVar(&c.validateRequests, "validate-requests", envBool(getenv, "PORTICO_VALIDATE_REQUESTS"), "answer 400 to proxied requests that do not match the extension's OpenAPI document (PORTICO_VALIDATE_REQUESTS)")
	fs.StringVar(&c.moduleUpstream, "module-upstream", envOr(getenv, "PORTICO_MODULE_UPSTREAM", "https://esm.sh"), "base URL UI bundles' dependency modules are fetched from and cached; off for none (PORTICO_MODULE_UPSTREAM)")
	licenseKeys := fs.String("license-keys", getenv("PORTICO_LICENSE_KEYS"), "comma-separated base64 Ed25519 public keys of the vendor whose licences the server accepts; empty turns licensing off (PORTICO_LICENSE_KEYS)")
	unlicensed, err := envInt(getenv, "PORTICO_UNLICENSED_EXTENSIONS", 3)
	if err != nil {
		return c, err
	}
	fs.IntVar(&c.unlicensedExtensions, "unlicensed-extensions", unlicensed, "with licensing on, how many extensions may register without a valid licence; 0 for no cap (PORTICO_UNLICENSED_EXTENSIONS)")
	fs.BoolVar(&c.webhookAllowPrivate, "webhook-allow-private", envBool(getenv, "PORTICO_WEBHOOK_ALLOW_PRIVATE"), "let orchestrator webhooks target loopback and private networks; for development (PORTICO_WEBHOOK_ALLOW_PRIVATE)")
	httpAllow := fs.String("task-http-allow", getenv("PORTICO_TASK_HTTP_ALLOW"), "comma-separated URL prefixes the demo http task may GET; empty allows none (PORTICO_TASK_HTTP_ALLOW)")
	proxies := fs.String("trusted-proxies", getenv("PORTICO_TRUSTED_PROXIES"), "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed; empty trusts none (PORTICO_TRUSTED_PROXIES)")
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
	if c.db != "" && c.memory {
		return c, errors.New("-db and -memory exclude each other")
	}
	if c.natsURL != "" {
		c.natsAddr = "off"
	}
	if c.rateAuth < 0 || c.rateGeneral < 0 {
		return c, errors.New("-rate-auth and -rate-general must not be negative")
	}
	switch {
	case c.rateStore != "" && c.rateStore != "memory" && c.rateStore != "db":
		return c, fmt.Errorf("-rate-store: %q is neither memory nor db", c.rateStore)
	case c.rateStore == "db" && c.memory:
		return c, errors.New("-rate-store=db needs a database, and -memory has none")
	}
	if c.moduleUpstream == "off" {
		c.moduleUpstream = ""
	}
	if c.unlicensedExtensions < 0 {
		return c, errors.New("-unlicensed-extensions must not be negative")
	}
	for _, k := range strings.Split(*licenseKeys, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return c, fmt.Errorf("-license-keys: %q is not a base64 Ed25519 public key", k)
		}
		c.licenseKeys = append(c.licenseKeys, ed25519.PublicKey(b))
	}
	for _, p := range strings.Split(*httpAllow, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if !allowedURL([]string{p}, p) {
				return c, fmt.Errorf("-task-http-allow: %q is not an http or https URL prefix", p)
			}
			c.taskHTTPAllow = append(c.taskHTTPAllow, p)
		}
	}
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.trustedProxies = append(c.trustedProxies, p)
		}
	}
	c.adminPassword = getenv("PORTICO_ADMIN_PASSWORD")
	c.signingKey = getenv("PORTICO_SIGNING_KEY")
	c.verifyKeys = getenv("PORTICO_VERIFY_KEYS")
	return c, nil
}

func envBool(getenv func(string) string, name string) bool {
	v := getenv(name)
	return strings.EqualFold(v, "true") || v == "1"
}

func envInt(getenv func(string) string, name string, def int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a whole number", name, v)
	}
	return n, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
