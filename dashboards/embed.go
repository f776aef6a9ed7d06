package dashboards

import "embed"

// FS holds the generated dashboard files (envtrack-*.json), embedded so that tools and
// tests can read them without a checkout. They are provisioning-ready: data sources are
// the template variables DS_PROMETHEUS and DS_INFLUXDB.
//
//go:embed *.json
var FS embed.FS
