// Package ratelimit limits how often clients may call an API: token buckets
// keyed by policy and client, standard response headers, and a 429 that
// says when to come back.
//
// # Policies
//
// A Policy is a rate ("20 per minute", or "10 per second with bursts of
// 50") and a choice of what it counts against:
//
//   - per client IP: Key nil or ByIP;
//   - per principal or per API key: ByContext reading the authenticated
//     caller (package auth's FromContext) from the request context;
//   - per route class: Routes and Except, in net/http.ServeMux pattern
//     syntax ("POST /auth/login", "PUT /key/{id}");
//   - per endpoint prefix: Prefixes, where every path under a prefix
//     shares the prefix's bucket;
//   - for everyone at once: Global.
//
// One Limiter checks every policy that covers a request in one pass, and
// atomically: if any of them has no token left, the request is denied,
// the first such policy (in Config.Policies order) is named, and no
// token is taken from the others.
//
//	lim, err := ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{
//		{Name: "auth", Limit: 20, Routes: []string{"POST /auth/login"}},
//		{Name: "general", Limit: 60, Except: []string{"POST /auth/login", "GET /ping"}},
//	}})
//	go lim.Run(ctx) // drops idle buckets
//	http.ListenAndServe(addr, lim.Middleware(mux))
//
// Allow and Check make the same decision without writing a response.
//
// # Client addresses: the threat model
//
// An IP limit is only as good as the address it counts. By default the
// client is the connection's peer (Request.RemoteAddr), which a client
// cannot forge over TCP. X-Forwarded-For and Forwarded are headers, and
// anyone can send them, so they are ignored unless Config.TrustedProxies
// lists the proxies in front of the server. Then, for a request whose peer
// is a trusted proxy, the configured header is read from the right (the
// end the nearest proxy appended to), skipping trusted proxies, and the
// first address that is not one is the client. Entries to its left were
// written by the client or by proxies we do not control and are never
// read. Only one header is read (Config.ForwardedHeader), because a proxy
// that maintains one passes the other through from the client untouched.
// An unparsable entry ends the walk at the proxy that reported it.
//
// What this cannot stop: a trusted proxy that appends a forged address, a
// client with many addresses, and requests whose peer address cannot be
// parsed (all of them share the key "unknown"). IPv6 clients are counted by
// /64 prefix, the block one subscriber typically holds, so rotating
// addresses within it gains nothing; an attacker holding many /64s is
// limited per /64. Limit by principal or API key where the caller is known.
//
// ClientIP exposes the same resolution for audit logs (auth.Config.ClientIP,
// apikey.Config.ClientIP) so that they and the limiter agree.
//
// # Headers
//
// Middleware sets X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset (Unix seconds) for the covering policy nearest its
// limit, and the IETF RateLimit-Policy and RateLimit fields for every
// covering policy. A denial is 429 with Retry-After computed from the
// bucket's real deficit (a bucket that refills one token every 3 s and
// holds 0.5 says 2), and {"error": ..., "code": "rate_limited"}. In
// Config.DryRun mode nothing is denied but the headers and counts are
// the same, to try limits on live traffic first.
//
// # Memory and stores
//
// A Store holds the buckets. MemoryStore, the default, shards them over
// independently locked maps, so no lock spans the limiter on the hot path,
// and caps them at MemoryConfig.MaxKeys: a full shard drops full buckets
// (a new bucket starts full, so nothing is lost), and failing that the
// fullest one, counted as displaced in Stats. Run sweeps full buckets
// periodically. A decision over the memory store does not allocate.
//
// Buckets in a MemoryStore are per process: several instances behind a
// load balancer each enforce the full limit, so a client may get up to
// N times the limit across N instances. A shared Store removes that:
// package sqlstore keeps buckets in SQLite or PostgreSQL (DB.RateLimit),
// and any other backend can load a hit's Bucket, call TakeBuckets and
// write it back in one transaction to get the memory store's exact
// semantics. Package ratelimittest's RunStore checks a Store against the
// contract.
//
// Stats reports tracked keys, displacements and denials per policy;
// Handler serves them as JSON at GET /admin/ratelimit.
package ratelimit
