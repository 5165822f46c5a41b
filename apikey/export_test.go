package apikey

// Test hooks into the key format.
var (
	NewToken   = newToken
	ParseToken = parseToken
)
