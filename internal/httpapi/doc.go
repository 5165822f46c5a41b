// Package httpapi is the HTTP plumbing Portico's packages share: JSON
// responses and error bodies, strict JSON decoding under a size cap,
// limit/offset pagination, JSON 404 and 405 answers for a ServeMux, request
// ids, security headers, and the one ResponseWriter wrapper.
//
// It is internal: its types never appear in an exported signature of a
// Portico package, so host applications can implement every public interface
// without importing it.
package httpapi
