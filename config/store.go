package config

import (
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// The journal's drivers (store.driver).
const (
	// StoreBbolt is the embedded journal: one file in state_dir, one replica.
	StoreBbolt = "bbolt"
	// StorePostgres is the journal in PostgreSQL, shared by every replica: each serves
	// reads and takes pushes, and one of them, holding a lease, runs the sources, the
	// sinks and retention.
	StorePostgres = "postgres"
)

// StoreConfig says where the journal lives.
type StoreConfig struct {
	Driver   string          `yaml:"driver"`
	Postgres *PostgresConfig `yaml:"postgres,omitempty"` // with driver: postgres only
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *StoreConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultStoreConfig
	type plain StoreConfig
	node, err := captureNode(unmarshal)
	if err != nil {
		return err
	}
	// A bare "postgres:" still means the section (whose dsn is then missing).
	if v := mappingValue(node, "postgres"); v != nil && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		v.Kind, v.Tag, v.Value = yaml.MappingNode, "!!map", ""
	}
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	switch c.Driver {
	case StoreBbolt:
		if c.Postgres != nil {
			return nodeErrorf(node, "postgres", "applies to driver: %s only (driver is %s)", StorePostgres, c.Driver)
		}
	case StorePostgres:
		if c.Postgres == nil {
			return nodeErrorf(node, "postgres", "must be set with driver: %s (dsn or dsn_file)", StorePostgres)
		}
	default:
		return nodeErrorf(node, "driver", "must be %q or %q, got %q", StoreBbolt, StorePostgres, c.Driver)
	}
	return nil
}

// PostgresConfig is the journal in PostgreSQL (13 or newer).
type PostgresConfig struct {
	// DSN is a connection string, postgres://user:password@host:5432/db?sslmode=...
	// or key=value pairs; a secret, as it usually carries the password.
	DSN     Secret `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	// LeaseDuration is how long the leader's lease lasts without a renewal: when the
	// leader dies, another replica takes over within it (plus renew_interval).
	LeaseDuration model.Duration `yaml:"lease_duration"`
	// RenewInterval is how often the leader renews its lease, and how often the other
	// replicas try to take it.
	RenewInterval model.Duration `yaml:"renew_interval"`
	// MaxConnections bounds the connections of one replica's pool (one more listens
	// for the other replicas' commits).
	MaxConnections int `yaml:"max_connections"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *PostgresConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultPostgresConfig
	type plain PostgresConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if err := secretPair(node, "dsn", c.DSN != "", c.DSNFile != "", true); err != nil {
		return err
	}
	if err := positive(node, "lease_duration", c.LeaseDuration); err != nil {
		return err
	}
	if time.Duration(c.LeaseDuration) < time.Second {
		return nodeErrorf(node, "lease_duration", "must be at least 1s, got %s", c.LeaseDuration)
	}
	if err := positive(node, "renew_interval", c.RenewInterval); err != nil {
		return err
	}
	if 2*c.RenewInterval > c.LeaseDuration {
		return nodeErrorf(node, "renew_interval", "must be at most half of lease_duration, so that one failed renewal does not lose the lease (%s > %s / 2)",
			c.RenewInterval, c.LeaseDuration)
	}
	if c.MaxConnections < 2 || c.MaxConnections > 100 {
		return nodeErrorf(node, "max_connections", "must be between 2 and 100, got %d", c.MaxConnections)
	}
	return nil
}
