package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// TestRecoverPanics: a panicking handler answers 500 JSON, logs a line, counts, and the
// server keeps serving.
func TestRecoverPanics(t *testing.T) {
	logs := &testinfra.SyncBuffer{}
	panics := metric.HTTPHandlerPanics.NewCounter(prometheus.NewRegistry())
	calls := 0
	h := recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			panic(fmt.Errorf("boom: a bug in handler %s", r.URL.Path))
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}), panics, log.NewLogfmtLogger(logs))
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/anything")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var e map[string]string
	require.NoError(t, json.Unmarshal(body, &e))
	require.Contains(t, e["error"], "internal error")
	require.Contains(t, logs.String(), `msg="HTTP handler panicked; answered 500 and kept serving"`)
	require.Contains(t, logs.String(), "boom: a bug in handler /api/anything")
	require.Equal(t, 1.0, testutil.ToFloat64(panics))

	resp, err = http.Get(srv.URL + "/api/anything")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
