// Package server is envtrack's HTTP server: the route table (routes.go, every endpoint
// in one block) and the hardening every connection gets (this file): bounded timeouts and
// headers, a cap on connections with a reserve for the scrape endpoints, a panicking
// handler answered 500, and TLS and basic auth through the exporter toolkit.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/net/netutil"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/api"
)

// scrapeReserve is how many connections beyond api.max_connections are still accepted,
// to serve only the endpoints a monitoring system needs while the API is flooded.
const scrapeReserve = 16

// scrapePaths are the endpoints served on the reserve connections.
var scrapePaths = map[string]bool{"/metrics": true, "/healthz": true, "/readyz": true}

// Server is envtrack's HTTP server on its listener.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr (listen_address).
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen_address: %w", err)
	}
	return &Server{ln: ln}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Start serves h until Shutdown, with the api section's limits: a slow or idle client
// holds a connection for a bounded time, the headers it may send are bounded, and at
// most max_connections (plus the scrape reserve) are open. It serves through the
// exporter toolkit: with a web configuration file (--web.config.file), TLS (reloaded on
// each connection) and basic auth on every endpoint. The channel says why serving
// ended early.
func (s *Server) Start(c config.APIConfig, h http.Handler, webConfigFile string, logger log.Logger) <-chan error {
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: time.Duration(c.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(c.ReadTimeout),
		WriteTimeout:      time.Duration(c.WriteTimeout),
		IdleTimeout:       time.Duration(c.IdleTimeout),
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ConnContext:       markReserveConn,
		ErrorLog:          slog.NewLogLogger(slogHandler{log.With(logger, "component", "http")}, slog.LevelDebug),
	}
	noSystemd := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{s.Addr()}, WebSystemdSocket: &noSystemd, WebConfigFile: &webConfigFile}
	errc := make(chan error, 1)
	go func() {
		errc <- web.Serve(limitListener(s.ln, c.MaxConnections), s.srv, flags, slog.New(slogHandler{log.With(logger, "component", "web")}))
	}()
	return errc
}

// ShutdownTimeout bounds how long Shutdown waits for the requests in flight.
const ShutdownTimeout = 10 * time.Second

// Shutdown stops accepting connections and lets the requests in flight finish, for at
// most ShutdownTimeout.
func (s *Server) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// CheckWebConfig validates a web configuration file ("" is none) as Serve will read it.
func CheckWebConfig(file string) error {
	if file == "" {
		return nil
	}
	if err := web.Validate(file); err != nil {
		return fmt.Errorf("web config %s: %w", file, err)
	}
	return nil
}

// limitListener caps the open connections at max plus scrapeReserve (a connection beyond
// that waits in the kernel's backlog); those beyond max are marked as reserve ones.
func limitListener(ln net.Listener, max int) net.Listener {
	return &reserveListener{Listener: netutil.LimitListener(ln, max+scrapeReserve), max: int64(max)}
}

type reserveListener struct {
	net.Listener
	max  int64
	open atomic.Int64
}

func (l *reserveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	return &countedConn{Conn: c, reserve: n > l.max, release: func() { l.open.Add(-1) }}, nil
}

type countedConn struct {
	net.Conn
	reserve bool
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

type reserveConnKey struct{}

// markReserveConn is the server's ConnContext: it tells the handler that the request came
// on a reserve connection (through TLS too).
func markReserveConn(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if cc, ok := c.(*countedConn); ok && cc.reserve {
		return context.WithValue(ctx, reserveConnKey{}, true)
	}
	return ctx
}

// limitReserve answers 503 to anything but the scrape endpoints on a reserve connection.
func limitReserve(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(reserveConnKey{}) != nil && !scrapePaths[r.URL.Path] {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			api.WriteError(w, http.StatusServiceUnavailable, "too many open connections (api.max_connections): try again later")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic in a handler (a corrupt store page, a bug) into a 500 JSON
// answer, one log line and a count, and the server keeps serving. A fault reading the
// store's memory map is made a panic too, rather than a crash of the process.
func recoverPanics(next http.Handler, panics prometheus.Counter, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		rw := &trackingWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // the sentinel is compared, as net/http does
				panic(v) // net/http's way to abort a response: not a failure
			}
			panics.Inc()
			level.Error(logger).Log("msg", "HTTP handler panicked; answered 500 and kept serving",
				"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !rw.wrote {
				api.WriteError(rw, http.StatusInternalServerError, "internal error: the request failed, envtrack logged why")
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// trackingWriter records whether the answer was started, so that a panic after it does
// not write a second status.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// slogHandler hands the exporter toolkit's and net/http's log records to envtrack's
// go-kit logger.
type slogHandler struct{ logger log.Logger }

func (h slogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h slogHandler) Handle(_ context.Context, r slog.Record) error {
	kv := []any{"msg", r.Message}
	r.Attrs(func(a slog.Attr) bool {
		kv = append(kv, a.Key, a.Value.String())
		return true
	})
	var l log.Logger
	switch {
	case r.Level >= slog.LevelError:
		l = level.Error(h.logger)
	case r.Level >= slog.LevelWarn:
		l = level.Warn(h.logger)
	case r.Level >= slog.LevelInfo:
		l = level.Info(h.logger)
	default:
		l = level.Debug(h.logger)
	}
	return l.Log(kv...)
}

func (h slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	kv := make([]any, 0, 2*len(attrs))
	for _, a := range attrs {
		kv = append(kv, a.Key, a.Value.String())
	}
	return slogHandler{log.With(h.logger, kv...)}
}

func (h slogHandler) WithGroup(string) slog.Handler { return h }
