package tracker

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecidesOnItsOwnTerms: the tracker reads evidence in its own terms (SyncState,
// HealthState, OpOutcome); each source translates its vocabulary before handing
// observations over (Argo CD's in exporter/argocd/mapping.go). No string literal of the
// tracker's code is an Argo CD status word, so no decision can hang on one.
func TestDecidesOnItsOwnTerms(t *testing.T) {
	argoWords := map[string]bool{}
	for _, w := range []string{"Synced", "OutOfSync", "Unknown", "Healthy", "Progressing", "Degraded", "Suspended",
		"Missing", "Running", "Terminating", "Failed", "Error", "Succeeded", "ADDED", "MODIFIED", "DELETED"} {
		argoWords[w] = true
	}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		require.NoError(t, err)
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				require.False(t, argoWords[s], "%s: %q is Argo CD's word, not the tracker's", fset.Position(lit.Pos()), s)
			}
			return true
		})
	}
}

// TestStepReadsStatesNotWords: the source's own words (HealthStatus, OpPhase) are only
// quoted in metadata; the states decide. Evidence whose words say the opposite of its
// states follows the states.
func TestStepReadsStatesNotWords(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Evidence)
		want Phase
	}{
		{"ready on the states, whatever the words", func(a *Evidence) {
			a.Sync, a.Health, a.Op = SyncSynced, HealthHealthy, OpSucceeded
			a.HealthStatus, a.OpPhase = "Degraded", "Failed"
			a.OpFinishedAt, a.HealthSince = at("2m"), at("3m")
		}, PhaseReady},
		{"failed sync on the outcome, whatever the word", func(a *Evidence) {
			a.Op, a.OpPhase, a.OpFinishedAt = OpFailed, "Succeeded", at("2m")
		}, PhaseFailed},
		{"degraded on the state, whatever the word", func(a *Evidence) {
			a.Health, a.HealthStatus, a.HealthSince = HealthDegraded, "Healthy", at("2m")
		}, PhaseFailed},
		{"still provisioning: a running operation, a word of success", func(a *Evidence) {
			a.Sync, a.Health, a.HealthSince = SyncSynced, HealthHealthy, at("3m")
			a.Op, a.OpPhase = OpRunning, "Succeeded"
		}, PhaseProvisioning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := Step(State{}, seen("5m", newApp(tc.edit)), loaded(Config{}))
			require.Equal(t, tc.want, s.Phase)
		})
	}
}

// TestEvidenceJSON: the states are stored by name, one byte each in memory; a state
// stored by an older envtrack (Argo CD's words only, under sync_status) reads with its
// states unknown, its words and times kept, so the next observation replaces it.
func TestEvidenceJSON(t *testing.T) {
	ev := Evidence{AppName: "a", Sync: SyncSynced, Health: HealthMissing, HealthStatus: "Missing", Op: OpFailed, OpPhase: "Error"}
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	require.JSONEq(t, `{"app_name":"a","sync":"synced","health":"missing","health_status":"Missing",
		"op_outcome":"failed","op_phase":"Error"}`, string(b))
	var back Evidence
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, ev, back)
	b, err = json.Marshal(Evidence{AppName: "a"})
	require.NoError(t, err)
	require.JSONEq(t, `{"app_name":"a"}`, string(b), "unknown states are left out")

	var old Evidence
	require.NoError(t, json.Unmarshal([]byte(`{"app_name":"a","sync_status":"Synced","health_status":"Healthy",
		"health_transition_at":"2025-01-07T10:03:40Z","op_phase":"Succeeded","sync":"a newer state"}`), &old))
	require.Equal(t, Evidence{AppName: "a", HealthStatus: "Healthy", HealthSince: at("3m40s"), OpPhase: "Succeeded"}, old)
	require.False(t, holds(&old, Evidence{AppName: "a", Sync: SyncSynced, Health: HealthHealthy, HealthStatus: "Healthy",
		HealthSince: at("3m40s"), Op: OpSucceeded, OpPhase: "Succeeded"}), "an old evidence is not held: the next observation replaces it")
}
