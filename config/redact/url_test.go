package redact

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestURL: what a shown URL keeps and what it masks, hostile URLs included.
func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Nothing secret: the URL as written, byte for byte.
		{"", ""},
		{"https://h/x?a=1", "https://h/x?a=1"},
		{"http://bob@h/x", "http://bob@h/x"},
		{"https://h/a%2Fb?q=x%20y&z#frag", "https://h/a%2Fb?q=x%20y&z#frag"},
		{"https://h/?tokenizer=x&keyboard=y&monkey", "https://h/?tokenizer=x&keyboard=y&monkey"},
		{"https://h/?token", "https://h/?token"}, // no value
		// The user info's password.
		{"http://bob:pw@h/x", "http://bob:<secret>@h/x"},
		{"https://u:p%40ss@h:8443/", "https://u:<secret>@h:8443/"},
		{"https://u:p@ss@h/", "https://u:<secret>@h/"}, // the last '@' ends the user info
		{"https://:pw@h/", "https://:<secret>@h/"},
		// Secret query parameters, any case, kept in place and order.
		{"https://h/?access_token=abc&x=1", "https://h/?access_token=<secret>&x=1"},
		{"https://h/?x=1&token=abc", "https://h/?x=1&token=<secret>"},
		{"https://h/?api_key=abc", "https://h/?api_key=<secret>"},
		{"https://h/?sig=abc&se=2030", "https://h/?sig=<secret>&se=2030"},
		{"https://h/?ACCESS_TOKEN=abc", "https://h/?ACCESS_TOKEN=<secret>"},
		{"https://h/?Api-Key=abc", "https://h/?Api-Key=<secret>"},
		{"https://h/?apikey=a&password=b&secret=c&signature=d&key=e", "https://h/?apikey=<secret>&password=<secret>&secret=<secret>&signature=<secret>&key=<secret>"},
		{"https://h/?X-Amz-Signature=abc&X-Amz-Date=1", "https://h/?X-Amz-Signature=<secret>&X-Amz-Date=1"},
		{"https://h/?github_token=abc", "https://h/?github_token=<secret>"},
		{"https://h/?token=a&token=b", "https://h/?token=<secret>&token=<secret>"},
		{"https://h/?token=", "https://h/?token=<secret>"},
		{"https://h/?token=a=b", "https://h/?token=<secret>"},
		// Escaped names are read unescaped; ';' does not split a value out of the mask.
		{"https://h/?acc%65ss_token=abc", "https://h/?acc%65ss_token=<secret>"},
		{"https://h/?token=abc;x=1", "https://h/?token=<secret>"},
		{"https://h/?%zz=1&token=abc", "https://h/?%zz=1&token=<secret>"},
		// The fragment (OAuth's implicit flow puts the token there).
		{"https://h/cb#access_token=abc&token_type=bearer", "https://h/cb#access_token=<secret>&token_type=bearer"},
		{"https://h/?a=1#frag", "https://h/?a=1#frag"},
		// All at once.
		{"https://u:pw@h/p?token=abc#sig=def", "https://u:<secret>@h/p?token=<secret>#sig=<secret>"},
		// Not an http URL, still masked.
		{"mailto:x@h?token=abc", "mailto:x@h?token=<secret>"},
		// Unparsable: may hold anything, shows nothing.
		{"http://a:b@h\x7f/", "<invalid URL>"},
		{"https://u:pw@h:port/", "<invalid URL>"},
		{"http://[::1", "<invalid URL>"},
		{"%zz://u:pw@h", "<invalid URL>"},
	} {
		got := URL(tc.in)
		require.Equal(t, tc.want, got, tc.in)
		for _, secret := range []string{"abc", "pw", "p%40ss", "ss@h"} {
			if got != tc.in {
				require.NotContains(t, strings.ReplaceAll(got, "<secret>", ""), "="+secret, tc.in)
				require.NotContains(t, got, ":"+secret+"@", tc.in)
			}
		}
	}
}

func TestSecretParam(t *testing.T) {
	for _, name := range []string{"token", "TOKEN", "access_token", "access-token", "api_key", "x-api-key", "sig", "SIGNATURE", "client_secret", "db_password"} {
		require.True(t, SecretParam(name), name)
	}
	for _, name := range []string{"", "x", "tokens", "tokenizer", "keys", "page", "signed", "q"} {
		require.False(t, SecretParam(name), name)
	}
}

// New removes what URL masks, wherever a message quotes it, and leaves the rest of the
// URL readable.
func TestNewURL(t *testing.T) {
	s := New("https://bob:hunter2@influx.example.com:8086/?token=tok-123456&db=envtrack&sig=a%2Bb%3D%3D")
	msg := `Post "https://bob:hunter2@influx.example.com:8086/?token=tok-123456&db=envtrack&sig=a%2Bb%3D%3D": EOF; sig a+b==`
	require.Equal(t, `Post "https://<secret>@influx.example.com:8086/?token=<secret>&db=envtrack&sig=<secret>": EOF; sig <secret>`, s.String(msg))
	require.Equal(t, "dial influx.example.com:8086", New("http://influx.example.com:8086").String("dial influx.example.com:8086"))
}

// FuzzURL: whatever the input, a password or a secret parameter's value never survives
// URL: read back (with the mask as a plain word), the output holds the mask there.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"https://u:pw@h/?token=abc#sig=x", "http://h/?a=1&api_key=k", "mailto:x@h?token=t",
		"https://u:p%40ss@h:8443/p?x=%zz&Access-Token=v", "//u:p@h?key=v", "?token=a", "https://h/#access_token=t&x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := URL(raw)
		u, err := url.Parse(raw)
		if err != nil {
			require.Equal(t, "<invalid URL>", out)
			return
		}
		if out == raw {
			_, hasPassword := u.User.Password()
			require.False(t, hasPassword, "a password left in %q", raw)
			for _, q := range []string{u.RawQuery, u.EscapedFragment()} {
				_, masked := maskParams(q)
				require.False(t, masked, "a secret parameter left in %q", raw)
			}
			return
		}
		back, err := url.Parse(strings.ReplaceAll(out, Mask, "MASK"))
		require.NoError(t, err, "%q -> %q", raw, out)
		if _, ok := u.User.Password(); ok {
			p, _ := back.User.Password()
			require.Equal(t, "MASK", p, "%q -> %q", raw, out)
		}
		for _, q := range []string{back.RawQuery, back.EscapedFragment()} {
			for p := range strings.SplitSeq(q, "&") {
				name, value, ok := strings.Cut(p, "=")
				if n, err := url.QueryUnescape(name); err == nil {
					name = n
				}
				if ok && SecretParam(name) {
					require.Equal(t, "MASK", value, "%q -> %q", raw, out)
				}
			}
		}
	})
}

func TestSecretHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "Proxy-Authorization": true, "X-Api-Key": true, "Private-Token": true,
		"Cookie": true, "X-Session-Id": true, "X-Hub-Signature-256": true, "X-Auth-Token": true,
		"X-Team": false, "Accept-Language": false, "X-Environment": false, "User-Agent": false,
	} {
		require.Equal(t, want, SecretHeader(name), name)
	}
}
