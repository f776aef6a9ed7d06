package config

import (
	"net/netip"

	"gopkg.in/yaml.v3"
)

// Networks is a list of IP networks in CIDR notation ("10.0.0.0/8", "fd00::/8"), parsed
// when the configuration loads: readiness.url.deny_networks.
type Networks []netip.Prefix

// Contains reports whether ip is in one of the networks. An IPv4-mapped IPv6 address
// (::ffff:10.0.0.1) is the IPv4 address it maps.
func (n Networks) Contains(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range n {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// MarshalYAML implements yaml.Marshaler (check-config prints the list as written).
func (n Networks) MarshalYAML() (any, error) {
	out := make([]string, len(n))
	for i, p := range n {
		out[i] = p.String()
	}
	return out, nil
}

// UnmarshalYAML implements yaml.Unmarshaler: a list of CIDRs, each checked with its line.
func (n *Networks) UnmarshalYAML(value *yaml.Node) error {
	if value.Kind != yaml.SequenceNode {
		return nodeErrorf(value, "", `must be a list of networks such as ["10.0.0.0/8", "169.254.0.0/16"]`)
	}
	out := make(Networks, 0, len(value.Content))
	for _, it := range value.Content {
		if it.Kind == yaml.AliasNode && it.Alias != nil {
			it = it.Alias
		}
		if it.Kind != yaml.ScalarNode {
			return nodeErrorf(it, "", `must be a network such as "10.0.0.0/8"`)
		}
		p, err := netip.ParsePrefix(it.Value)
		if err != nil {
			return nodeErrorf(it, "", "%q is not a network in CIDR notation such as \"10.0.0.0/8\"", it.Value)
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		out = nil // as the default: no list
	}
	*n = out
	return nil
}
