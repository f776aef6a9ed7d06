package event

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGapClosing(t *testing.T) {
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, tc := range []struct {
		name   string
		g      Gap
		open   *Gap
		want   Gap
		wantOK bool
	}{
		{"no open window", Gap{Source: GapArgoCD, From: at(5), To: at(9), Reason: "stalled"}, nil,
			Gap{Source: GapArgoCD, From: at(5), To: at(9), Reason: "stalled"}, true},
		{"the open window began earlier, for its reason", Gap{Source: GapArgoCD, From: at(5), To: at(9), Reason: "refused"},
			&Gap{Source: GapArgoCD, From: at(2), Reason: "stalled"}, Gap{Source: GapArgoCD, From: at(2), To: at(9), Reason: "stalled"}, true},
		{"the open window began later", Gap{Source: GapArgoCD, From: at(5), To: at(9)},
			&Gap{Source: GapArgoCD, From: at(7), Reason: "broken"}, Gap{Source: GapArgoCD, From: at(5), To: at(9), Reason: "broken"}, true},
		{"no length", Gap{Source: GapArgoCD, From: at(5), To: at(5)}, nil, Gap{Source: GapArgoCD, From: at(5), To: at(5)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.g.Closing(tc.open)
			require.Equal(t, tc.wantOK, ok)
			require.Equal(t, tc.want, got)
		})
	}
}
