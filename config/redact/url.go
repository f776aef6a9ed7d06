package redact

import (
	"net/url"
	"strings"
)

// SecretParams are the query (and fragment) parameters whose values URL masks and New
// removes: the names that carry a credential in the URLs people paste into a config or a
// push (OAuth's access_token, Grafana's and GitLab's token, API keys, Azure's and S3's
// signatures). A name matches case-insensitively, with '-' read as '_'; a name ending
// in one of SecretParamSuffixes matches too (github_token, x-amz-signature, private_key).
var SecretParams = []string{
	"access_token", "refresh_token", "id_token", "token", "auth", "authorization",
	"api_key", "apikey", "key", "sig", "signature", "credential", "credentials",
	"password", "passwd", "pwd", "secret", "client_secret",
}

// SecretParamSuffixes: a parameter whose name ends in one of them is secret too.
var SecretParamSuffixes = []string{"_token", "_key", "_secret", "_password", "_signature", "_sig", "_credential"}

// SecretParam says whether a query parameter named name holds a secret.
func SecretParam(name string) bool {
	n := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
	for _, p := range SecretParams {
		if n == p {
			return true
		}
	}
	for _, s := range SecretParamSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// URL returns raw as it may be shown (check-config, the API, a page, a log): the
// password of its user info and the values of its secret query and fragment parameters
// (SecretParam) are replaced by Mask; the rest is left as written. An unparsable URL,
// which may still hold a password, is shown as "<invalid URL>".
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	_, hasPassword := u.User.Password()
	query, maskedQuery := maskParams(u.RawQuery)
	fragment, maskedFragment := maskParams(u.EscapedFragment())
	if !hasPassword && !maskedQuery && !maskedFragment {
		return raw
	}
	if hasPassword {
		u.User = url.UserPassword(u.User.Username(), Mask)
	}
	forceQuery := u.ForceQuery
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	// url.URL escapes the mask in user info; it is shown, not requested.
	out := strings.Replace(u.String(), ":"+url.QueryEscape(Mask)+"@", ":"+Mask+"@", 1)
	if query != "" || forceQuery {
		out += "?" + query
	}
	if fragment != "" {
		out += "#" + fragment
	}
	return out
}

// maskParams replaces the values of the secret parameters of a raw (escaped) query, and
// says whether it did. Pairs are split on '&' only: a value with ';' is masked whole.
func maskParams(raw string) (string, bool) {
	if raw == "" || !strings.Contains(raw, "=") {
		return raw, false
	}
	pairs := strings.Split(raw, "&")
	masked := false
	for i, p := range pairs {
		name, _, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if SecretParam(name) {
			pairs[i] = p[:strings.IndexByte(p, '=')+1] + Mask
			masked = true
		}
	}
	if !masked {
		return raw, false
	}
	return strings.Join(pairs, "&"), true
}

// secretParamValues returns the (unescaped) values of u's secret query and fragment
// parameters, for New.
func secretParamValues(u *url.URL) []string {
	var out []string
	for _, raw := range []string{u.RawQuery, u.EscapedFragment()} {
		for p := range strings.SplitSeq(raw, "&") {
			name, value, ok := strings.Cut(p, "=")
			if !ok || value == "" {
				continue
			}
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			if !SecretParam(name) {
				continue
			}
			out = append(out, value)
			if v, err := url.QueryUnescape(value); err == nil && v != value {
				out = append(out, v)
			}
		}
	}
	return out
}
