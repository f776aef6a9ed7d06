package fakegrafana

import (
	"fmt"
	"net/http"
	"time"
)

// FaultKind says what a Fault does to a request.
type FaultKind int

const (
	// FaultNone answers normally.
	FaultNone FaultKind = iota
	// FaultStatus answers Status. The body is Body (with ContentType) when set, as a
	// proxy's error page or an answer that is not Grafana's; otherwise Grafana's own JSON
	// error body for that status: 401 the authentication failure of an invalid API key,
	// 403 the access-control denial, anything else {"message":Message,"traceID":""}.
	FaultStatus
	// FaultHang answers nothing until the client gives up (its request context ends),
	// the server closes, or Delay passes when it is positive, in which case the request is
	// then answered normally.
	FaultHang
	// FaultDrop closes the connection without an answer: the client sees EOF.
	FaultDrop
)

// Fault is a scripted failure. Build one with the helpers below (ServerError,
// ProxyError, Unauthorized, Forbidden, Respond, Hang, Slow, Drop, StoreThen), narrow it
// with For, SkipFirst and Limit, and install it with Server.SetFault.
type Fault struct {
	Kind        FaultKind
	Status      int    // FaultStatus
	Message     string // FaultStatus: the "message" of Grafana's JSON error body
	Body        string // FaultStatus: the body as is, instead of Grafana's JSON
	ContentType string // FaultStatus with Body
	// Delay is how long FaultHang holds the request before answering normally; 0 holds
	// it until the client gives up or the server closes.
	Delay time.Duration
	// AfterStore makes the fault strike after the request was handled: a POST stores its
	// annotation first, then the fault replaces the answer ("Annotation added" never
	// reaches the client). This is the crash between Grafana saving and the client
	// hearing it. Such a fault only counts requests that stored an annotation.
	AfterStore bool
	// Method limits the fault to requests with this method ("" means every method).
	Method string
	// Skip lets the first Skip requests the fault applies to through unharmed.
	Skip int
	// Times limits the fault to that many requests (after Skip); 0 means until
	// ClearFault.
	Times int
}

// For limits f to requests with the given method (http.MethodPost, http.MethodGet).
func (f Fault) For(method string) Fault { f.Method = method; return f }

// SkipFirst lets the first n requests f applies to through unharmed.
func (f Fault) SkipFirst(n int) Fault { f.Skip = n; return f }

// Limit makes f strike n requests, then clear itself.
func (f Fault) Limit(n int) Fault { f.Times = n; return f }

// ServerError is a 500 from Grafana itself: {"message":message,"traceID":""}, as
// response.Error writes it (for instance "Failed to save annotation" when the database
// is locked).
func ServerError(message string) Fault {
	return Fault{Kind: FaultStatus, Status: http.StatusInternalServerError, Message: message}
}

// ProxyError is the HTML error page of a reverse proxy (nginx) in front of Grafana: 502,
// 503 or 504.
func ProxyError(status int) Fault {
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	return Fault{Kind: FaultStatus, Status: status, ContentType: "text/html",
		Body: "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
			"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"}
}

// Unauthorized is a 401 whatever token the request carries (the token was revoked or
// the service account deleted), with Grafana's body for an invalid API key.
func Unauthorized() Fault { return Fault{Kind: FaultStatus, Status: http.StatusUnauthorized} }

// Forbidden is a 403 with Grafana's access-control body, whatever token the request
// carries (the service account lost its role).
func Forbidden() Fault { return Fault{Kind: FaultStatus, Status: http.StatusForbidden} }

// Respond answers status with body as is, for answers that are not Grafana's: a 200
// login page of an SSO proxy, or a 200 JSON object without an "id".
func Respond(status int, contentType, body string) Fault {
	return Fault{Kind: FaultStatus, Status: status, ContentType: contentType, Body: body}
}

// Hang holds requests until the client gives up or the server closes.
func Hang() Fault { return Fault{Kind: FaultHang} }

// Slow delays the answer by d (or less, when the client gives up first).
func Slow(d time.Duration) Fault { return Fault{Kind: FaultHang, Delay: d} }

// Drop closes the connection without an answer.
func Drop() Fault { return Fault{Kind: FaultDrop} }

// StoreThen makes f strike POST requests after their annotation was stored (see
// Fault.AfterStore): StoreThen(Drop()), StoreThen(ServerError("...")), StoreThen(Hang()).
func StoreThen(f Fault) Fault {
	f.AfterStore = true
	f.Method = http.MethodPost
	return f
}
