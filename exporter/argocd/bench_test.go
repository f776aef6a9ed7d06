package argocd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
)

// benchApps is a realistic world of n preview environments in every phase.
func benchApps(n int) []fakeargocd.Application {
	apps := make([]fakeargocd.Application, 0, n)
	for i := range n {
		name := fmt.Sprintf("pr-%05d", i)
		created := t0.Add(time.Duration(i) * time.Second)
		a := fakeargocd.NewApp(name, created, fakeargocd.WithType("preview"),
			fakeargocd.WithURL("https://"+name+".preview.example.com/healthz"),
			fakeargocd.WithRequestedAt(created.Add(-time.Minute)),
			fakeargocd.WithBranch("feature/"+name), fakeargocd.WithProject("previews"))
		rev := fmt.Sprintf("%040x", i)
		fakeargocd.StartSync(&a, rev, created.Add(5*time.Second))
		switch i % 4 {
		case 0, 1:
			fakeargocd.SyncSucceeded(&a, rev, created.Add(3*time.Minute))
			fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, created.Add(4*time.Minute))
			fakeargocd.SetExternalURLs(&a, "https://"+name+".preview.example.com")
		case 2:
			fakeargocd.SyncFailed(&a, created.Add(time.Minute), "one or more objects failed to apply")
			fakeargocd.SetHealth(&a, fakeargocd.HealthDegraded, created.Add(time.Minute))
		}
		if i%50 == 0 {
			fakeargocd.MarkDeleting(&a, created.Add(time.Hour))
		}
		apps = append(apps, a)
	}
	return apps
}

// BenchmarkList10000 lists 10,000 Applications from the fake (which serves a cached,
// pre-rendered answer, so the time is the HTTP round trip plus envtrack's decoding).
func BenchmarkList10000(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := "fields"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			srv := fakeargocd.New(fakeargocd.WithApps(benchApps(10000)...))
			srv.Start()
			defer srv.Close()
			ac := config.DefaultArgoCDConfig
			ac.Server, ac.Token = srv.URL(), config.Secret(srv.Token())
			c, err := newClient(ac, Options{FullApplications: full}, nil, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			apps, err := c.list(context.Background()) // renders and caches the answer
			if err != nil || len(apps) != 10000 {
				b.Fatalf("list: %d apps, %v", len(apps), err)
			}
			b.SetBytes(answerSize(b, srv, c.listURL))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.list(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// answerSize is the size of the list answer, for the MB/s column.
func answerSize(b *testing.B, srv *fakeargocd.Server, listURL string) int64 {
	req, err := http.NewRequest(http.MethodGet, listURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
