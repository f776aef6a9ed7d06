package api

import "net/http"

// RequireRead guards h as the API's reads are guarded (the HTML pages use it): open
// unless read tokens are configured, then a read or write bearer token.
func RequireRead(tokens Tokens, h http.Handler) http.Handler { return requireToken(tokens, false, h) }
