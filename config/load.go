package config

import (
	"bytes"
	"crypto/x509"
	_ "embed" // for Example
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"
	"gopkg.in/yaml.v3"

	"github.com/blueberry-idp/envtrack/config/redact"
)

// loadOptions change how a file is loaded (tests resolve ${VAR} from a table).
type loadOptions struct {
	// LookupEnv resolves ${VAR} references; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Load reads and validates the configuration file at path, with ${VAR}
// taken from the process environment.
func Load(path string) (*Config, error) {
	return loadWithOptions(path, loadOptions{})
}

func loadWithOptions(path string, opts loadOptions) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return loadBytes(data, path, opts)
}

// loadBytes parses and validates a configuration. filename names it in errors, and
// relative paths in it (token files, CA files, state_dir) are resolved against
// filename's directory.
//
// In order: ${VAR} references are expanded in the raw text ($$ is a literal
// $, comments are left alone; an undefined variable is an error); the YAML
// is decoded strictly, each section setting its defaults and checking its
// own fields; then the checks that span sections are made, relative paths
// are resolved and secret files are read.
func loadBytes(data []byte, filename string, opts loadOptions) (*Config, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	file := filename
	if file == "" {
		file = "<config>"
	}

	expanded, xerr := expandEnv(data, lookup)
	if xerr != nil {
		e := &Error{File: file, Line: xerr.line, Msg: xerr.msg}
		var root yaml.Node
		if yaml.Unmarshal(expanded, &root) == nil {
			e.Key = newIndex(&root).pathAt(xerr.line, xerr.col)
		}
		return nil, e
	}

	cfg := DefaultConfig()
	doc := document{cfg: &cfg}
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		// An empty file: the defaults.
	case err != nil:
		return nil, newIndex(doc.root).resolve(file, err)
	default:
		var next yaml.Node
		switch err := dec.Decode(&next); {
		case errors.Is(err, io.EOF):
		case err != nil:
			return nil, newIndex(nil).resolve(file, err)
		default:
			return nil, &Error{File: file, Line: next.Line, Msg: "only one YAML document is allowed"}
		}
	}

	cfg.Filename = filename
	cfg.normalize()
	l := &loader{file: file, dir: filepath.Dir(filename), idx: newIndex(doc.root)}
	if err := l.validate(&cfg); err != nil {
		return nil, err
	}
	if err := l.resolveFiles(&cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// normalize makes an empty list nil, so that "key: []" and no key are the
// same configuration.
func (c *Config) normalize() {
	nilIfEmpty(&c.Environments)
	nilIfEmpty(&c.API.WriteTokens)
	nilIfEmpty(&c.API.ReadTokens)
	if c.ArgoCD != nil {
		nilIfEmpty(&c.ArgoCD.Projects)
	}
	if c.Grafana != nil {
		nilIfEmpty(&c.Grafana.Tags)
	}
	nilIfEmpty(&c.Webhooks)
	for i := range c.Webhooks {
		nilIfEmpty(&c.Webhooks[i].Events)
		nilIfEmpty(&c.Webhooks[i].Types)
	}
}

func nilIfEmpty[T any](s *[]T) {
	if len(*s) == 0 {
		*s = nil
	}
}

// document captures the decoder's own node tree, so that errors found in
// it can be placed by dotted path and line.
type document struct {
	cfg  *Config
	root *yaml.Node
}

func (d *document) UnmarshalYAML(unmarshal func(any) error) error {
	root, err := captureNode(unmarshal)
	if err != nil {
		return err
	}
	d.root = root
	return unmarshal(d.cfg)
}

type loader struct {
	file string
	dir  string
	idx  *index
}

func (l *loader) errorf(key, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{File: l.file, Line: l.idx.lineOf(key), Key: key, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// validate makes the checks that span fields or sections.
func (l *loader) validate(c *Config) error {
	_, port, err := net.SplitHostPort(c.ListenAddress)
	if err != nil {
		return l.errorf("listen_address", "must be host:port: %w", err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return l.errorf("listen_address", "port %q must be a number from 0 to 65535", port)
	}

	seen := make(map[string]int, len(c.Environments))
	for i, env := range c.Environments {
		if j, dup := seen[env.ID]; dup {
			return l.errorf(fmt.Sprintf("environments[%d].id", i), "duplicate environment id %q (also environments[%d])", env.ID, j)
		}
		seen[env.ID] = i
	}

	if len(c.Types) > 0 {
		for typ := range c.Readiness.TerminationTimeout.ByType {
			if !slices.Contains(c.Types, typ) {
				return l.errorf("readiness.termination_timeout."+typ, "%q is not one of types (%s)", typ, strings.Join(c.Types, ", "))
			}
		}
	}
	names := make(map[string]int, len(c.Webhooks))
	for i, w := range c.Webhooks {
		if j, dup := names[w.Name]; dup {
			return l.errorf(fmt.Sprintf("webhooks[%d].name", i), "duplicate webhook name %q (also webhooks[%d])", w.Name, j)
		}
		names[w.Name] = i
	}

	u := c.Readiness.URL
	if u.Timeout > u.Interval {
		return l.errorf("readiness.url.timeout", "must not be greater than readiness.url.interval (%s > %s)", u.Timeout, u.Interval)
	}
	for _, t := range []struct {
		key string
		t   DurationTarget
	}{
		{"targets.provisioning_p50", c.Targets.ProvisioningP50},
		{"targets.provisioning_p95", c.Targets.ProvisioningP95},
	} {
		if t.t.Alert < t.t.Target {
			return l.errorf(t.key+".alert", "must not be less than %s.target (%s < %s)", t.key, t.t.Alert, t.t.Target)
		}
	}
	if sr := c.Targets.SuccessRate; sr.Alert > sr.Target {
		return l.errorf("targets.success_rate.alert", "must not be greater than targets.success_rate.target (%g > %g)", sr.Alert, sr.Target)
	}
	return l.checkSLOs(c)
}

// resolveFiles resolves relative paths against the config file's directory
// and reads the secret files.
func (l *loader) resolveFiles(c *Config) error {
	c.StateDir = l.abs(c.StateDir)
	if a := c.ArgoCD; a != nil {
		if err := l.readSecret("argocd.token_file", &a.TokenFile, &a.Token); err != nil {
			return err
		}
		if err := l.checkBearer("argocd", a.Token, a.TokenFile); err != nil {
			return err
		}
		if err := l.checkCAFile("argocd.tls.ca_file", &a.TLS); err != nil {
			return err
		}
	}
	if err := l.checkCAFile("readiness.url.tls.ca_file", &c.Readiness.URL.TLS); err != nil {
		return err
	}
	if p := c.Store.Postgres; p != nil {
		if err := l.readSecret("store.postgres.dsn_file", &p.DSNFile, &p.DSN); err != nil {
			return err
		}
		if err := l.checkDSN(p); err != nil {
			return err
		}
	}
	if i := c.InfluxDB; i != nil {
		if err := l.readSecret("influxdb.token_file", &i.TokenFile, &i.Token); err != nil {
			return err
		}
	}
	if g := c.Grafana; g != nil {
		if err := l.readSecret("grafana.token_file", &g.TokenFile, &g.Token); err != nil {
			return err
		}
		if err := l.checkBearer("grafana", g.Token, g.TokenFile); err != nil {
			return err
		}
	}
	for i := range c.Webhooks {
		if err := l.resolveWebhook(fmt.Sprintf("webhooks[%d]", i), &c.Webhooks[i]); err != nil {
			return err
		}
	}
	if err := l.readTokens("api.write_tokens_file", &c.API.WriteTokensFile, &c.API.WriteTokens); err != nil {
		return err
	}
	return l.readTokens("api.read_tokens_file", &c.API.ReadTokensFile, &c.API.ReadTokens)
}

// resolveWebhook reads a webhook's secret file and checks the secret's form, and its CA
// file.
func (l *loader) resolveWebhook(key string, w *WebhookConfig) error {
	if w.SecretFile != "" {
		if err := l.readSecret(key+".secret_file", &w.SecretFile, &w.Secret); err != nil {
			return err
		}
		if _, err := WebhookKey(w.Secret); err != nil {
			return l.errorf(key+".secret_file", "the secret in %s %w", w.SecretFile, err)
		}
	}
	return l.checkCAFile(key+".tls.ca_file", &w.TLS)
}

func (l *loader) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.dir, p)
}

// maxFileSize bounds the files that Load reads (secrets, CA bundles).
const maxFileSize = 4 << 20

func (l *loader) readFile(key string, path *string) ([]byte, error) {
	*path = l.abs(*path)
	f, err := os.Open(*path)
	if err != nil {
		return nil, l.errorf(key, "%w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, l.errorf(key, "%w", err)
	}
	if len(data) > maxFileSize {
		return nil, l.errorf(key, "file %s is larger than %d MiB", *path, maxFileSize>>20)
	}
	return data, nil
}

func (l *loader) readSecret(key string, path *string, dst *Secret) error {
	if *path == "" {
		return nil
	}
	data, err := l.readFile(key, path)
	if err != nil {
		return err
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return l.errorf(key, "file %s is empty", *path)
	}
	*dst = Secret(s)
	return nil
}

// readTokens reads a file of tokens, one a line; blank lines and lines
// starting with # are ignored.
func (l *loader) readTokens(key string, path *string, dst *[]Secret) error {
	if *path == "" {
		return nil
	}
	data, err := l.readFile(key, path)
	if err != nil {
		return err
	}
	var tokens []Secret
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tokens = append(tokens, Secret(line))
	}
	if len(tokens) == 0 {
		return l.errorf(key, "file %s holds no token", *path)
	}
	*dst = tokens
	return nil
}

// checkBearer checks a token sent as "Authorization: Bearer <token>": one word, without
// whitespace or control characters (a token file's trailing newline is already gone).
// The key named is the one the token came from.
func (l *loader) checkBearer(section string, token Secret, file string) error {
	if strings.IndexFunc(string(token), func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0 {
		return nil
	}
	if file != "" {
		return l.errorf(section+".token_file", "the token in %s must not contain whitespace or control characters", file)
	}
	return l.errorf(section+".token", "must not contain whitespace or control characters")
}

func (l *loader) checkCAFile(key string, t *TLSConfig) error {
	if t.CAFile == "" {
		return nil
	}
	data, err := l.readFile(key, &t.CAFile)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return l.errorf(key, "no PEM certificate found in %s", t.CAFile)
	}
	return nil
}

// checkDSN parses the PostgreSQL connection string as the driver will, so that a typo
// fails check-config, not a replica at start. The message never quotes the string: it
// usually holds the password.
func (l *loader) checkDSN(p *PostgresConfig) error {
	key := "store.postgres.dsn"
	if p.DSNFile != "" {
		key = "store.postgres.dsn_file"
	}
	if _, err := pgconn.ParseConfig(string(p.DSN)); err != nil {
		var perr *pgconn.ParseConfigError
		msg := "not a PostgreSQL connection string"
		if errors.As(err, &perr) && perr.Unwrap() != nil {
			msg += ": " + redact.New(string(p.DSN)).String(perr.Unwrap().Error())
		}
		return l.errorf(key, "%s (postgres://user:password@host:5432/database?sslmode=require, or host=... dbname=... pairs)", msg)
	}
	return nil
}
