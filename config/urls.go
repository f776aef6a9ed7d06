package config

import (
	"fmt"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"
)

// noCredentials rejects a URL carrying user info: the Argo CD and Grafana clients
// authenticate with their token only, and refuse such a URL when they start. Checking
// it here makes check-config say so too, with the file, line and key.
func noCredentials(node *yaml.Node, key, raw string) error {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return nodeErrorf(node, key, "must not carry credentials (user:password@); use the token")
	}
	return nil
}

// grafanaURL checks what the Grafana sink requires of its URL beyond being http(s).
func grafanaURL(node *yaml.Node, raw string) error {
	if err := noCredentials(node, "url", raw); err != nil {
		return err
	}
	if u, err := url.Parse(raw); err == nil && (u.RawQuery != "" || u.Fragment != "" || u.ForceQuery) {
		return nodeErrorf(node, "url", "must not have a query or fragment")
	}
	return nil
}

// grafanaTags checks what the Grafana sink requires of its tags: Grafana keeps key:value
// only, so a second ':' would be lost.
func grafanaTags(node *yaml.Node, tags []string) error {
	for i, t := range tags {
		if strings.Count(t, ":") > 1 {
			return nodeErrorf(node, fmt.Sprintf("tags[%d]", i), "%q has more than one ':' (Grafana keeps key:value only)", t)
		}
	}
	return nil
}
