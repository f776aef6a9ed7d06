// Package dashboards holds the Grafana dashboards generated from the metric definitions
// (package definitions; `envtrack generate` writes them, `go test ./definitions -update`
// rewrites them), embedded so that tools and tests can read them without a checkout.
// They are provisioning-ready: data sources are the template variables DS_PROMETHEUS
// and DS_INFLUXDB.
package dashboards

import "embed"

// FS holds the dashboard files (envtrack-*.json).
//
//go:embed *.json
var FS embed.FS
