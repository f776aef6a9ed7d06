package proc

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLogWatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		heard  bool
		taken  bool
	}{
		{"prometheus", []string{`time=x level=INFO source=tls_config.go:354 msg="Listening on" address=127.0.0.1:37673` + "\n"}, true, false},
		{"influxd", []string{`ts=x lvl=info msg="Listening on HTTP" log_id=0 service=httpd addr=127.0.0.1:37673 https=false` + "\n"}, true, false},
		{"split across writes", []string{`msg="Listen`, `ing on" address=127.0.0.1:376`, "73\n"}, true, false},
		{"not yet a whole line", []string{`msg="Listening on" address=127.0.0.1:37673`}, false, false},
		{"another port with our prefix", []string{`msg="Listening on" address=127.0.0.1:376731` + "\n"}, false, false},
		{"our address, not listening", []string{`msg="Starting" address=127.0.0.1:37673` + "\n"}, false, false},
		{"bind failed", []string{`msg="Unable to start web listener" err="listen tcp 127.0.0.1:37673: bind: address already in use"` + "\n"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := &logWatch{out: &out}
			for _, s := range tc.writes {
				_, err := w.Write([]byte(s))
				require.NoError(t, err)
			}
			require.Equal(t, strings.Join(tc.writes, ""), out.String(), "output passes through")
			require.Equal(t, tc.heard, w.listening("127.0.0.1:37673"))
			require.Equal(t, tc.taken, w.portTaken())
		})
	}
}
