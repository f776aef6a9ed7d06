package fakeargocd

import (
	"net/http"
	"time"
)

// FaultKind says what a Fault does to a list request.
type FaultKind int

const (
	// FaultNone answers normally.
	FaultNone FaultKind = iota
	// FaultStatus answers Status with an Argo CD error body
	// {"error":Message,"code":Code,"message":Message}, or, when Plain is set, with a plain
	// text body as a proxy in front of Argo CD would (502, 503, 504).
	FaultStatus
	// FaultSlow waits Delay (or until the client gives up or the server closes), then
	// answers normally.
	FaultSlow
	// FaultTruncated answers 200 with a Content-Length for the whole body, writes half of
	// it and drops the connection: the client sees an unexpected EOF.
	FaultTruncated
	// FaultNotJSON answers 200 with an HTML page, as an ingress or SSO proxy login page.
	FaultNotJSON
	// FaultEmptyList answers a valid list with no items, whatever the world holds.
	FaultEmptyList
	// FaultMissingItems answers 200 with a JSON object that has no "items" key.
	FaultMissingItems
	// FaultHeld holds every request until the fault is cleared (or changed), then
	// answers it normally, with the world as it is then: a busy API server, or a proxy
	// that holds answers. A client that gives up first (its request timeout) sees no
	// answer. The test's clock decides when the hold ends, not the wall clock.
	FaultHeld
)

// Fault is a scripted failure of the list endpoint. Build one with the helpers below
// (ServerError, ProxyError, Unauthorized, Slow, Truncated, NotJSON, EmptyList,
// MissingItems) and install it with Server.SetFault.
type Fault struct {
	Kind    FaultKind
	Status  int           // FaultStatus: HTTP status
	Code    int           // FaultStatus: gRPC code in the body (0: derived from Status)
	Message string        // FaultStatus: error message
	Plain   bool          // FaultStatus: plain text body (proxy) instead of Argo CD JSON
	Delay   time.Duration // FaultSlow
	// Times limits the fault to the next Times list requests; 0 means until ClearFault.
	Times int

	release <-chan struct{} // FaultHeld: closed when the fault is cleared or changed
}

// ServerError is a 500 from Argo CD itself (gRPC Internal).
func ServerError(message string) Fault {
	return Fault{Kind: FaultStatus, Status: http.StatusInternalServerError, Code: 13, Message: message}
}

// ProxyError is a plain-text error page of a proxy in front of Argo CD (502, 503, 504).
func ProxyError(status int) Fault {
	return Fault{Kind: FaultStatus, Status: status, Plain: true}
}

// Unauthorized is a 401 for an expired token, whatever token the request carries.
func Unauthorized() Fault {
	return Fault{Kind: FaultStatus, Status: http.StatusUnauthorized, Code: 16,
		Message: "invalid session: token has invalid claims: token is expired"}
}

// Slow delays the answer by d.
func Slow(d time.Duration) Fault { return Fault{Kind: FaultSlow, Delay: d} }

// Held holds the answers until the fault is cleared (FaultHeld).
func Held() Fault { return Fault{Kind: FaultHeld} }

// Truncated cuts the answer in the middle.
func Truncated() Fault { return Fault{Kind: FaultTruncated} }

// NotJSON answers an HTML login page with 200.
func NotJSON() Fault { return Fault{Kind: FaultNotJSON} }

// EmptyList answers a valid, empty list.
func EmptyList() Fault { return Fault{Kind: FaultEmptyList} }

// MissingItems answers {"metadata":{...}} without "items".
func MissingItems() Fault { return Fault{Kind: FaultMissingItems} }

// grpcCode maps an HTTP status to the gRPC code grpc-gateway would have started from.
func grpcCode(status int) int {
	switch status {
	case http.StatusBadRequest:
		return 3 // InvalidArgument
	case http.StatusUnauthorized:
		return 16 // Unauthenticated
	case http.StatusForbidden:
		return 7 // PermissionDenied
	case http.StatusNotFound:
		return 5 // NotFound
	case http.StatusConflict:
		return 6 // AlreadyExists
	case http.StatusTooManyRequests:
		return 8 // ResourceExhausted
	case http.StatusNotImplemented:
		return 12 // Unimplemented
	case http.StatusServiceUnavailable:
		return 14 // Unavailable
	case http.StatusGatewayTimeout:
		return 4 // DeadlineExceeded
	default:
		return 2 // Unknown (500)
	}
}

const loginPage = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - Example Corp SSO</title></head>
<body>
<form method="post" action="/oauth2/start">
<h1>Sign in to continue</h1>
<input type="hidden" name="rd" value="/api/v1/applications">
<button type="submit">Sign in with Example Corp</button>
</form>
</body>
</html>
`
