package web

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
)

// TestLandingSaysUndelivered: events set aside for a sink past retention.max_undelivered
// get a line on the landing page, read tokens or not (sinks are shown either way).
func TestLandingSaysUndelivered(t *testing.T) {
	for _, private := range []bool{false, true} {
		cfg := config.DefaultConfig()
		if private {
			cfg.API.ReadTokens = []config.Secret{"reader"}
		}
		p, h := newTestPagesWith(&cfg, nil, nil, t0)
		p.o.Sinks = func() []SinkStatus {
			return []SinkStatus{{Name: "influxdb", Undelivered: 42, Failing: true}, {Name: "grafana"}}
		}
		code, body := get(t, h, "/")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, `<p class="bad undelivered" data-sink="influxdb">influxdb: 42 events set aside undelivered`)
		require.Contains(t, body, "<code>retention.max_undelivered</code> (90d)")
		require.NotContains(t, body, `data-sink="grafana">grafana:`, "nothing said of a sink without any")
	}
}
