package config

import (
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// The api section's server limits bound what one client, or many, can hold of
// envtrack's HTTP server:
//   - read_header_timeout: a client must send its request line and headers within this;
//   - read_timeout: ... and its whole request, body included;
//   - write_timeout: an answer must be read by the client within this, counted from the
//     end of the request's headers;
//   - idle_timeout: a keep-alive connection with no request is closed after this;
//   - max_header_bytes: the largest request line plus headers accepted (431 beyond);
//   - max_connections: open connections at most. Beyond it, a small reserve of further
//     connections is served /metrics, /healthz and /readyz only (503 for the rest), so
//     that Prometheus keeps scraping while the API is flooded.

// Bounds of the server limits: beyond them a server is either unusable or unbounded.
const (
	MinHeaderBytes = 4 << 10
	MaxHeaderBytes = 1 << 20
	MaxConnections = 1 << 16
)

func (c *APIConfig) checkServer(node *yaml.Node) error {
	for _, d := range []struct {
		key string
		v   model.Duration
	}{
		{"read_header_timeout", c.ReadHeaderTimeout}, {"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout},
	} {
		if err := positive(node, d.key, d.v); err != nil {
			return err
		}
	}
	if c.ReadHeaderTimeout > c.ReadTimeout {
		return nodeErrorf(node, "read_header_timeout", "must not be longer than read_timeout (%s)", c.ReadTimeout)
	}
	if c.MaxHeaderBytes < MinHeaderBytes || c.MaxHeaderBytes > MaxHeaderBytes {
		return nodeErrorf(node, "max_header_bytes", "must be between %d and %d, got %d", MinHeaderBytes, MaxHeaderBytes, c.MaxHeaderBytes)
	}
	if c.MaxConnections < 1 || c.MaxConnections > MaxConnections {
		return nodeErrorf(node, "max_connections", "must be between 1 and %d, got %d", MaxConnections, c.MaxConnections)
	}
	return nil
}
