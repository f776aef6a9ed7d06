package influxdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// ReadError is a read from InfluxDB that failed: InfluxDB could not be reached
// (Unreachable: the API answers 503), or it answered with a refusal or with something
// that is no answer (the API answers 502). Its message says what InfluxDB said and,
// where envtrack knows, how to fix it; it is the one line start-up logs too.
type ReadError struct {
	Language    string // config.QueryLanguageInfluxQL or config.QueryLanguageFlux
	StatusCode  int    // InfluxDB's HTTP status; 0 when there was no (complete) answer
	Unreachable bool
	Message     string // InfluxDB's words, or the transport's; secrets removed
	Hint        string // how to fix it; "" when envtrack does not know
	err         error
}

func (e *ReadError) Error() string {
	lang := languageName(e.Language)
	var s string
	switch {
	case e.Unreachable && e.StatusCode == 0:
		s = fmt.Sprintf("InfluxDB is unreachable for %s reads (%s)", lang, e.Message)
	case e.StatusCode != 0 && e.StatusCode != http.StatusOK:
		s = fmt.Sprintf("InfluxDB answers %d to %s (%s)", e.StatusCode, lang, e.Message)
	default:
		s = fmt.Sprintf("InfluxDB refuses the %s query (%s)", lang, e.Message)
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// Unwrap returns query.ErrUnavailable or query.ErrRefused, and the cause.
func (e *ReadError) Unwrap() []error {
	kind := query.ErrRefused
	if e.Unreachable {
		kind = query.ErrUnavailable
	}
	if e.err == nil {
		return []error{kind}
	}
	return []error{kind, e.err}
}

// Reason is the reason label of the read failures counter.
func (e *ReadError) Reason() string {
	if e.Unreachable {
		return reasonUnreachable
	}
	return reasonRefused
}

// Values of the reason label of metric.InfluxDBReadFailures.
const (
	reasonRefused     = "refused"
	reasonUnreachable = "unreachable"
)

func languageName(lang string) string {
	if lang == config.QueryLanguageFlux {
		return "Flux"
	}
	return "InfluxQL"
}

// unreachableStatus reports whether an answer with this status says that InfluxDB is
// out of reach for now rather than refusing the read: a proxy that found no InfluxDB
// behind it (502, 504), an InfluxDB that says it is unavailable (503), too busy (429)
// or timed out (408).
func unreachableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// transportError reports whether err is a failure to talk to InfluxDB at all (as
// opposed to, say, an error in the answer).
func transportError(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded)
}

// hint says how to fix a refused read, from the status and InfluxDB's words (InfluxDB
// 1.8's services/httpd/handler.go, 2.x's v1 compatibility API and 3.x's v1 API answer
// these).
func hint(c *config.InfluxDBConfig, lang string, status int, msg string) string {
	m := strings.ToLower(msg)
	db, rp := c.DBRP()
	notFound := strings.Contains(m, "not found") || strings.Contains(m, "no database") || strings.Contains(m, "no dbrp mapping")
	switch {
	case lang == config.QueryLanguageFlux && strings.Contains(m, "flux query service disabled"):
		return "set influxdb.query_language: influxql, or enable flux-enabled in InfluxDB"
	case status == http.StatusUnauthorized || strings.Contains(m, "authorization failed") || strings.Contains(m, "unauthorized"):
		return `check influxdb.token: "user:password" for InfluxDB 1.x, a token that may read the bucket for 2.x and 3.x`
	case lang == config.QueryLanguageFlux && notFound && strings.Contains(m, "organization"):
		return fmt.Sprintf("Flux reads organization %q: set influxdb.org to yours (InfluxDB 1.8: leave it empty)", c.Org)
	case lang == config.QueryLanguageFlux && notFound && !strings.Contains(m, "page not found"):
		return fmt.Sprintf("Flux reads bucket %q: create it, or set influxdb.bucket (InfluxDB 1.8: \"database/retention-policy\")", c.Bucket)
	case lang == config.QueryLanguageFlux && (status == http.StatusNotFound || status == http.StatusMethodNotAllowed):
		return "this InfluxDB has no Flux: set influxdb.query_language: influxql"
	case lang == config.QueryLanguageInfluxQL && strings.Contains(m, "retention policy not found"):
		return fmt.Sprintf("set influxdb.retention_policy to one database %q has (SHOW RETENTION POLICIES), or leave it empty for the default", db)
	case lang == config.QueryLanguageInfluxQL && (notFound || status == http.StatusNotFound):
		return fmt.Sprintf("InfluxQL reads database %q, retention policy %q: create the database (1.x: CREATE DATABASE; 3.x creates it with the first write), "+
			"map the bucket on 2.x (influx v1 dbrp create --db %s --rp %s --bucket-id ID --default), or set influxdb.database and influxdb.retention_policy",
			db, rpOrDefault(rp), db, rpOrDefault(rp))
	case status == http.StatusForbidden || strings.Contains(m, "not authorized") || strings.Contains(m, "insufficient permissions"):
		return "give influxdb.token read access to the database or bucket (1.x: GRANT READ ON the database TO the user)"
	}
	return ""
}

func rpOrDefault(rp string) string {
	if rp == "" {
		return "autogen"
	}
	return rp
}

// readFailures is the read failures counter, registered once per registry.
func readFailures(reg prometheus.Registerer, lang string) *prometheus.CounterVec {
	c := metric.InfluxDBReadFailures.NewCounterVec(reg) // reg nil: counted, never exposed
	for _, r := range []string{reasonRefused, reasonUnreachable} {
		c.WithLabelValues(lang, r) // both series from the start, at 0
	}
	return c
}
