package config

import (
	"bytes"
	_ "embed" // for Example
	"fmt"
	"net/url"

	"gopkg.in/yaml.v3"
)

func (c *Config) Redacted() string {
	r := *c
	if c.ArgoCD != nil {
		a := *c.ArgoCD
		a.Server = redactURL(a.Server)
		r.ArgoCD = &a
	}
	if c.InfluxDB != nil {
		i := *c.InfluxDB
		i.URL = redactURL(i.URL)
		r.InfluxDB = &i
	}
	if c.Grafana != nil {
		g := *c.Grafana
		g.URL = redactURL(g.URL)
		r.Grafana = &g
	}
	r.Environments = make([]StaticEnvironment, len(c.Environments))
	for i, e := range c.Environments {
		e.URL = redactURL(e.URL)
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

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
