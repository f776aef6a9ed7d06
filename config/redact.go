package config

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/blueberry-idp/envtrack/config/redact"
)

// Redacted returns the effective configuration as YAML, with every secret printed as
// <secret>, and every URL as redact.URL shows it (its password and secret query
// parameters masked): what `envtrack check-config` prints and the landing page shows.
func (c *Config) Redacted() string {
	r := *c
	if c.ArgoCD != nil {
		a := *c.ArgoCD
		a.Server = redact.URL(a.Server)
		r.ArgoCD = &a
	}
	if c.InfluxDB != nil {
		i := *c.InfluxDB
		i.URL = redact.URL(i.URL)
		r.InfluxDB = &i
	}
	if c.Grafana != nil {
		g := *c.Grafana
		g.URL = redact.URL(g.URL)
		r.Grafana = &g
	}
	if c.Webhooks != nil {
		r.Webhooks = make([]WebhookConfig, len(c.Webhooks))
		for i, w := range c.Webhooks {
			w.URL = w.ShownURL() // headers and secret print themselves redacted
			r.Webhooks[i] = w
		}
	}
	r.Environments = make([]StaticEnvironment, len(c.Environments))
	for i, e := range c.Environments {
		e.URL = redact.URL(e.URL)
		r.Environments[i] = e
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&r); err != nil {
		return fmt.Sprintf("# cannot encode the configuration: %v\n", err)
	}
	_ = enc.Close()
	return b.String()
}
