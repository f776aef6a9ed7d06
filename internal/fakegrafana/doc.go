// Package fakegrafana is a faithful fake of Grafana's annotations HTTP API (Grafana
// 10-12; pkg/api/annotations.go and the SQL annotation store) for tests and for the demo:
// POST /api/annotations, GET /api/annotations and DELETE /api/annotations/{id} with
// Grafana's JSON shapes, validation
// and error bodies, service-account-token authentication, and scriptable, countable
// faults.
//
// What it reproduces of Grafana, because clients depend on it:
//
//   - Authentication: no credentials answer 401 {"message":"Unauthorized"}; an unknown
//     token 401 {"extra":null,"message":"Invalid API key","messageId":"api-key.invalid",
//     "statusCode":401,"traceID":""}; a read-only (Viewer) token 403 with the
//     access-control body ("You'll need additional permissions to perform this action.
//     Permissions needed: annotations:create").
//   - POST: a body that is not JSON answers 400 {"message":"bad request data"}; an empty
//     text 400 {"message":"Failed to save annotation"} (Grafana's cause, "text field
//     should not be empty", is only logged); no time means now; no timeEnd means a point
//     annotation (timeEnd = time); a timeEnd before time is swapped, not refused; tags
//     are parsed into key:value pairs and joined again (trimmed, deduplicated, and
//     anything after a second colon lost: "a:b:c" is stored as "a:b"); tags longer than
//     [annotations] tags_length (500) answer 400; an unknown dashboardUID is silently
//     ignored (an organization annotation). Success is 200 {"id":N,"message":"Annotation
//     added"}.
//   - GET: tags (repeatable) must all match, or any with matchAny=true, a tag without a
//     value matching any value of its key; from/to filter only when both are set and
//     select annotations overlapping [from, to]; limit defaults to 100; type=annotation
//     excludes alert annotations; an unknown dashboardUID answers 400. The answer is the
//     ItemDTO array, newest (by timeEnd, then time) first.
//   - DELETE /api/annotations/{id}: 200 {"message":"Annotation deleted"}; an unknown id
//     404 {"message":"Annotation not found"}; an id that is not a number 400
//     {"message":"annotationId is invalid"}; a read-only token 403 (annotations:delete).
//
// A scenario:
//
//	srv := fakegrafana.NewServer(t, fakegrafana.WithDashboard("envtrack", 7))
//	srv.SetFault(fakegrafana.ServerError("database is locked").Limit(2)) // two 500s
//	srv.SetFault(fakegrafana.StoreThen(fakegrafana.Drop()).Limit(1))       // saved, never acknowledged
//	srv.SetFault(fakegrafana.Hang().For(http.MethodPost))                  // until the client gives up
//	_ = srv.WaitRequests(ctx, 3)
//	anns := srv.Annotations()
package fakegrafana
