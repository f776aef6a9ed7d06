package labels

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

type lines struct{ out []string }

func (l *lines) Log(kv ...any) error { l.out = append(l.out, fmt.Sprint(kv...)); return nil }

func TestFold(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &lines{}
	b := New(reg, log.Logger(logs))
	b.SetTypes([]string{"preview", "staging"}, []string{"default"}, 50)
	for _, c := range []struct{ label, in, want string }{
		{LabelType, "preview", "preview"},
		{LabelType, "default", "default"}, // the configuration's own
		{LabelType, "", ""},
		{LabelType, "prewiev", Other},
		{LabelType, "prewiev", Other},
		{LabelReason, "timeout", "timeout"},
		{LabelReason, "reported", "reported"},
		{LabelReason, "cosmic_rays", Other},
		{LabelStatus, "success", "success"},
		{LabelStatus, "failed", "failed"},
		{LabelStatus, "succes", Other},
	} {
		var got string
		switch c.label {
		case LabelType:
			got = b.Type(c.in)
		case LabelReason:
			got = b.Reason(c.in)
		default:
			got = b.Status(c.in)
		}
		require.Equal(t, c.want, got, "%s %q", c.label, c.in)
	}
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP envtrack_label_values_folded_total Label values from input outside their closed set or the configured types, folded into "other", by label (type, reason, status).
# TYPE envtrack_label_values_folded_total counter
envtrack_label_values_folded_total{label="reason"} 1
envtrack_label_values_folded_total{label="status"} 1
envtrack_label_values_folded_total{label="type"} 2
`)))
	require.Len(t, logs.out, 3, "one line per distinct folded value: %v", logs.out)
	require.Equal(t, Other, b.TypeLabel("prewiev"))
	require.Equal(t, 2.0, testutil.ToFloat64(b.folded.WithLabelValues(LabelType)), "TypeLabel does not count")
}

// TestCap: without a types list the first max types keep their value; a reload that
// adds a list applies it; a nil Bound folds nothing.
func TestCap(t *testing.T) {
	b := New(prometheus.NewRegistry(), nil)
	b.SetTypes(nil, []string{"default"}, 3)
	b.Seed([]string{"preview", "staging"})
	for i := 0; i < 1000; i++ {
		b.Type(fmt.Sprintf("t-%d", i))
	}
	require.Equal(t, "preview", b.Type("preview"))
	require.Equal(t, Other, b.Type("t-0"), "the cap is 3: default, preview, staging")
	require.Len(t, b.logged, 1000)
	b.Type("t-1000")
	require.Len(t, b.logged, maxLogged, "remembered values to log are bounded")
	require.True(t, b.loggedFull[LabelType])
	b.Reason("cosmic_rays")
	require.Len(t, b.logged, maxLogged+1, "each label has its own bound")
	b.SetTypes([]string{"t-0"}, nil, 3)
	require.Equal(t, "t-0", b.Type("t-0"))
	require.Equal(t, Other, b.Type("preview"))

	var nb *Bound
	require.Equal(t, "anything", nb.Type("anything"))
}
