package fakeargocd_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
)

func Example() {
	srv := fakeargocd.New(fakeargocd.WithToken("t0ken"))
	srv.Start()
	defer srv.Close()

	t0 := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	srv.Upsert(fakeargocd.NewApp("pr-1", t0, fakeargocd.WithType("preview")))
	srv.Upsert(fakeargocd.NewApp("pr-2", t0, fakeargocd.WithoutLabel(fakeargocd.LabelManaged)))
	srv.Update("pr-1", func(a *fakeargocd.Application) {
		fakeargocd.StartSync(a, "1a2b3c", t0.Add(5*time.Second))
		fakeargocd.SyncSucceeded(a, "1a2b3c", t0.Add(3*time.Minute))
		fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, t0.Add(4*time.Minute))
	})

	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/api/v1/applications?selector=blueberry.io/managed%3Dtrue", nil)
	req.Header.Set("Authorization", "Bearer t0ken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var list fakeargocd.ApplicationList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		panic(err)
	}
	for _, a := range list.Items {
		op := a.Status.OperationState
		fmt.Println(a.Metadata.Name, a.Status.Sync.Status, a.Status.Health.Status, op.Phase, op.FinishedAt.Format(time.RFC3339))
	}
	fmt.Println("list requests:", srv.Requests())
	// Output:
	// pr-1 Synced Healthy Succeeded 2025-01-07T10:03:00Z
	// list requests: 1
}
