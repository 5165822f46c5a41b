// Package apikey manages API keys: long-lived credentials for services and
// scripts, hashed at rest, that authenticate requests like a token and
// exchange for NATS credentials.
//
// # Keys
//
// A key belongs to a client (its owner) and has a name, notes, an optional
// expiry, an optional extension identifier, and NATS publish and subscribe
// allow and deny lists. Its secret looks like
//
//	portico_<55 lowercase base32 characters>
//
// encoding a 10-byte key id, a 20-byte random secret and a CRC-32 of both,
// so secret scanners can recognise a leaked key (LooksLikeKey) and typos are
// refused without a lookup. The secret is returned once, by Create; the store
// keeps only its SHA-256, looked up by key id and compared in constant time.
// Each use records the key's last-used time and client IP (written at most
// once a minute per IP).
//
// A key cannot carry permissions its creator does not hold: for every
// subject a key allows, Config.Authorize is asked for "nats.pub.<subject>"
// or "nats.sub.<subject>". With package rbac, a role allowing
// "nats.pub.orders.>" lets its holders make keys that publish under
// orders. Only administrators (Config.IsAdmin) act on other clients' keys;
// to anyone else another client's key does not exist. Requests
// authenticated by an API key may exchange it but not manage keys, so a
// leaked key cannot mint more.
//
// # Authentication
//
// Service implements auth.Authenticator: add it to auth.Config.Authenticators
// and auth's middleware accepts "Authorization: Bearer portico_..." and
// "apiKey: portico_..." next to tokens. The Principal is the key's owner,
// with the owner's current roles and groups (a disabled or deleted owner's
// keys stop working), Kind auth.KindAPIKey, TokenID the key id and
// Identifier the key's extension identifier. Only an administrator may
// create a key with an identifier: package extension lets such a key
// register, update and publish UI bundles for the extension it names.
//
// # NATS credentials
//
// Exchange (GET /apikey) gives the key's holder a fresh user nkey and a
// NATS user JWT signed by the platform's account key (Config.Account),
// holding the key's lists plus Config.InboxSubjects (_INBOX.> by default)
// and permission to answer requests. The JWT expires after
// Config.CredentialsTTL and never after the key. NATS reads an empty allow
// list as "everything", so a key allowing nothing gets a deny of ">".
// Credentials.Creds formats the standard .creds file.
//
// Every issued user key is recorded. Revoking, deleting or narrowing a key
// revokes its issued credentials: AccountJWT is the account JWT, signed by
// Config.Operator, with those user keys in its revocation list, and
// Config.PublishAccount hands it to the NATS server, which then refuses
// the credentials and closes their connections. A NATS server in operator
// mode that trusts the operator and resolves the account to AccountJWT is
// all that is needed; the example server embeds one.
//
// # Mounting
//
//	keys, _ := apikey.New(apikey.Config{Clients: authStore, Account: accountKP, Operator: operatorKP})
//	authSvc, _ := auth.New(auth.Config{Store: authStore, Authenticators: []auth.Authenticator{keys}})
//	mux.Handle("/api/v1/", authSvc.Middleware(http.StripPrefix("/api/v1", keys.Handler())))
//
// Handler serves POST /keys, GET /keys, GET|PUT|DELETE /key/{id},
// POST /key/{id}/revoke, POST /key/{id}/reactivate and GET /apikey.
//
// # Threat model
//
// A key is a bearer secret: whoever holds it acts as its owner until it is
// revoked or expires. Keys are never logged; only their ids are. The stored
// hash is unsalted SHA-256, which is sound because the secret is 160 random
// bits, not a password. NATS credentials outlive a revocation only if
// PublishAccount cannot reach the NATS server; they then last until their
// expiry, so keep CredentialsTTL short where that matters.
//
// apikey imports auth, the one sibling it depends on: a key authenticates
// as an auth.Principal and its owner is an auth.Client.
package apikey
