package redact

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestURLsIn: a URL anywhere in a text (a pushed pipeline link, a sync failure naming
// its repository) loses its password and its secret parameters, as URL masks them;
// the rest of the text, and text without a secret, is left as written.
func TestURLsIn(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"no url here", "no url here"},
		{"https://ci.example/p/42", "https://ci.example/p/42"},
		{"https://ci:S3cret@ci.example/p/42", "https://ci:<secret>@ci.example/p/42"},
		{"https://ci.example/p/42?access_token=T0k3n&page=2", "https://ci.example/p/42?access_token=<secret>&page=2"},
		{"https://h.example/x?sig=abc&se=2030#token=frag", "https://h.example/x?sig=<secret>&se=2030#token=<secret>"},
		{"see https://u:P4ss@git.example/r.git failed: 403 (http://h/?token=T).", "see https://u:<secret>@git.example/r.git failed: 403 (http://h/?token=<secret>)."},
		{`"git+ssh://u:P4ss@h/r" and 'https://h/?apikey=K'`, `"git+ssh://u:<secret>@h/r" and 'https://h/?apikey=<secret>'`},
		{"two\nhttps://a:b@h1/\thttps://h2/?X-Amz-Signature=S", "two\nhttps://a:<secret>@h1/\thttps://h2/?X-Amz-Signature=<secret>"},
		{"://h/?token=T", "://h/?token=T"}, // no scheme: nothing that a client would send
		{"1https://h/?token=T", "1https://h/?token=<secret>"},
	} {
		require.Equal(t, tc.want, URLsIn(tc.in), "%q", tc.in)
		require.Equal(t, tc.want, URLsIn(tc.want), "%q: redacting again changes nothing", tc.in)
	}
	m := map[string]any{"url": "https://u:P@h/", "n": 3.0, "list": []any{"http://h/?token=T", true},
		"nested": map[string]any{"https://k:P@h/": "v"}}
	require.Equal(t, map[string]any{"url": "https://u:<secret>@h/", "n": 3.0, "list": []any{"http://h/?token=<secret>", true},
		"nested": map[string]any{"https://k:<secret>@h/": "v"}}, Values(m))
	// Metadata without a URL (a marker's) is left as it is, at no cost.
	plain := map[string]any{"application": "app-1", "activity": "deploy-1", "failed": false, "list": []any{"a", 1.0}}
	require.Zero(t, testing.AllocsPerRun(10, func() { Values(plain) }))
	require.Equal(t, map[string]any{"application": "app-1", "activity": "deploy-1", "failed": false, "list": []any{"a", 1.0}}, plain)
}
