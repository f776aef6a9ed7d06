package apitypes

import "net/url"

// EnvironmentPage is the path of an environment's page (GET /environments/{id}, the
// visual timeline), relative to envtrack's root: the landing page links it, and Slack
// messages link it under web.external_url.
func EnvironmentPage(id string) string { return "environments/" + url.PathEscape(id) }
