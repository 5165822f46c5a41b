// Package openapi aggregates the platform's OpenAPI document and every
// extension's into one, and serves it with Swagger UI.
//
// # Aggregation
//
// An Aggregator starts from the platform's own document (Config.Platform)
// and adds each extension's (Config.Sources), in order of extension id:
//
//   - Its paths go under PathPrefix/{id}: an extension "billing" with
//     /invoices/{n} is served as /api/v1/extension/billing/invoices/{n},
//     which is where the platform's proxy forwards.
//   - Its operations are tagged with the extension's name (Swagger UI
//     groups by tag); the document's own tags and servers are dropped.
//   - Component names and operationIds are prefixed with "{id}." and every
//     $ref rewritten to match, so two extensions may both call a schema
//     "Item". Extension ids cannot hold dots, so the prefixes cannot
//     collide.
//   - A security scheme equal to one of the platform's is replaced by the
//     platform's; any other is prefixed like the other components. Security
//     requirements are renamed accordingly, and a document-wide requirement
//     is copied onto the operations that set none.
//   - $refs are local only: an external reference (another file, a URL)
//     or a local one outside #/components/ leaves the document out. The
//     loader runs with external references off, so nothing is fetched.
//   - A document that is not JSON, is not OpenAPI 3.0.x, is larger than
//     MaxDocumentBytes, fails kin-openapi's validation, or would take a
//     name already in the aggregate, is left out whole and named in the
//     Report with its reason; the rest of the document is unaffected.
//
// Aggregation is lazy: Invalidate marks the document stale (subscribe it
// to the extension registry's events) and the next request rebuilds it.
// Prepared extension documents are cached by content, so a rebuild
// re-reads only what changed. If the sources cannot be read, the last
// document built is served.
//
// # Serving
//
// Handler serves GET /openapi (with a strong ETag; If-None-Match answers
// 304) and Swagger UI at GET /docs. Swagger UI's files ship inside the
// module (swagger-ui-dist, see swaggerui/VERSION): the page needs nothing
// from the internet, runs no inline script and is sent with a
// Content-Security-Policy that keeps it to its own files.
//
// # Request validation
//
// ValidateRequests is optional middleware for the extension proxy: a
// request for an operation an extension documents is checked with
// kin-openapi's openapi3filter (parameters and body against their
// schemas) and answered 400 (code request_invalid) if it does not
// conform, before it reaches the extension. Undocumented paths pass, and
// security requirements are left to the platform's own authentication.
//
// This package imports no sibling: the host wires extension's registry
// to Config.Sources and to Invalidate.
package openapi
