// Package fakeargocd is a faithful fake of the Argo CD API server (v2.14, also true of
// v3.x) for tests and for the demo simulator: the Application JSON of Argo CD's own types
// (empty sub-objects included), the list endpoint with `selector`, `projects` and
// `fields` (Argo CD's fixed field table, or the older generic filter), the get endpoint
// with its 403/404 rules, bearer-token authentication with Argo CD's error bodies, and
// scriptable, countable faults.
//
// A scenario is scripted with builders and mutators that keep Argo CD's semantics:
//
//	srv := fakeargocd.NewServer(t)                   // started on 127.0.0.1, closed at cleanup
//	srv.Upsert(fakeargocd.NewApp("pr-1", t0,         // created, not yet reconciled
//		fakeargocd.WithType("preview"), fakeargocd.WithURL("https://pr-1.example.com")))
//	srv.Update("pr-1", func(a *fakeargocd.Application) {
//		fakeargocd.StartSync(a, "1a2b3c", t0.Add(5*time.Second)) // Running, Progressing, OutOfSync
//	})
//	srv.Update("pr-1", func(a *fakeargocd.Application) {
//		fakeargocd.SyncSucceeded(a, "1a2b3c", t0.Add(3*time.Minute)) // Succeeded, Synced, history
//		fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, t0.Add(4*time.Minute))
//	})
//	srv.SetFault(fakeargocd.ServerError("etcd is down")) // every list fails until ClearFault
//	_ = srv.WaitRequests(ctx, 3)                        // the poller came three times
//	srv.Update("pr-1", func(a *fakeargocd.Application) { fakeargocd.MarkDeleting(a, t1) })
//	srv.Delete("pr-1")                                  // the finalizer ran: gone
//
// FixtureApps are the four Applications of shared/reference/argocd/applications-list.json.
package fakeargocd
