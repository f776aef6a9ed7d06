package fakegrafana

import (
	"crypto/md5"
	"fmt"
	"strings"
)

// Annotation is one stored annotation, encoded exactly as Grafana's GET /api/annotations
// answers it (pkg/services/annotations.ItemDTO, same field order). DashboardUID is null
// for an organization annotation. Tags are stored the way Grafana stores them: parsed
// into key/value pairs and joined again (see NormalizeTags).
type Annotation struct {
	ID           int64          `json:"id"`
	AlertID      int64          `json:"alertId"`
	AlertName    string         `json:"alertName"`
	DashboardID  int64          `json:"dashboardId"`
	DashboardUID *string        `json:"dashboardUID"`
	PanelID      int64          `json:"panelId"`
	UserID       int64          `json:"userId"`
	NewState     string         `json:"newState"`
	PrevState    string         `json:"prevState"`
	Created      int64          `json:"created"` // ms since the epoch
	Updated      int64          `json:"updated"` // ms since the epoch
	Time         int64          `json:"time"`    // ms since the epoch
	TimeEnd      int64          `json:"timeEnd"` // ms; equal to Time for a point annotation
	Text         string         `json:"text"`
	Tags         []string       `json:"tags"`
	Login        string         `json:"login"`
	Email        string         `json:"email"`
	AvatarURL    string         `json:"avatarUrl"`
	Data         map[string]any `json:"data"`
}

// IsRegion reports whether the annotation spans a time range.
func (a Annotation) IsRegion() bool { return a.TimeEnd != a.Time }

// HasTag reports whether the annotation carries tag, compared after normalization.
func (a Annotation) HasTag(tag string) bool {
	n := NormalizeTags([]string{tag})
	if len(n) == 0 {
		return false
	}
	for _, t := range a.Tags {
		if t == n[0] {
			return true
		}
	}
	return false
}

func (a Annotation) clone() Annotation {
	c := a
	c.Tags = append([]string{}, a.Tags...)
	if a.DashboardUID != nil {
		uid := *a.DashboardUID
		c.DashboardUID = &uid
	}
	c.Data = make(map[string]any, len(a.Data))
	for k, v := range a.Data {
		c.Data[k] = v
	}
	return c
}

// PostBody is the JSON body of POST /api/annotations (dtos.PostAnnotationsCmd).
type PostBody struct {
	DashboardID  int64          `json:"dashboardId"`
	DashboardUID string         `json:"dashboardUID,omitempty"`
	PanelID      int64          `json:"panelId"`
	Time         int64          `json:"time"`
	TimeEnd      int64          `json:"timeEnd,omitempty"`
	Text         string         `json:"text"`
	Tags         []string       `json:"tags"`
	Data         map[string]any `json:"data,omitempty"`
}

// Request is one request the server received, as Log returns it.
type Request struct {
	Method string
	Path   string
	Query  string // raw query
	Body   string // the request body (POST), as received
	// Status is the status answered, 0 when the server answered none (a dropped
	// connection, or a request abandoned by the client while it hung).
	Status int
	// Stored is the id of the annotation this request stored, 0 if none.
	Stored int64
}

// Identity is the user a token authenticates as: a service account, as Grafana creates
// them (login "sa-<org>-<name>", e-mail equal to the login).
type Identity struct {
	UserID int64
	Login  string
	Email  string
	// ReadOnly identities (service accounts with the Viewer role) lack
	// annotations:create: POST answers 403.
	ReadOnly bool
}

// tagPair is a parsed tag, as Grafana's pkg/services/tag.Tag.
type tagPair struct{ key, value string }

// parseTagPairs is Grafana's tag.ParseTagPairs: "key:value" splits at the colons and
// keeps the first two parts only ("a:b:c" is key "a", value "b"), both trimmed of spaces;
// a tag without a colon is a key with an empty value; empty keys and duplicates are
// dropped.
func parseTagPairs(tags []string) []tagPair {
	out := []tagPair{}
	for _, t := range tags {
		var p tagPair
		if strings.Contains(t, ":") {
			kv := strings.Split(t, ":")
			p.key = strings.Trim(kv[0], " ")
			p.value = strings.Trim(kv[1], " ")
		} else {
			p.key = strings.Trim(t, " ")
		}
		if p.key == "" || containsPair(out, p) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func containsPair(ps []tagPair, p tagPair) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// joinTagPairs is Grafana's tag.JoinTagPairs.
func joinTagPairs(ps []tagPair) []string {
	out := []string{}
	for _, p := range ps {
		if p.value != "" {
			out = append(out, p.key+":"+p.value)
		} else {
			out = append(out, p.key)
		}
	}
	return out
}

// NormalizeTags returns tags as Grafana stores them (parse, then join): trimmed,
// deduplicated, empty ones dropped, and anything after a second colon lost.
func NormalizeTags(tags []string) []string { return joinTagPairs(parseTagPairs(tags)) }

// gravatarURL is Grafana's dtos.GetGravatarUrl with an empty app sub-URL.
func gravatarURL(email string) string {
	if email == "" {
		return ""
	}
	return fmt.Sprintf("/avatar/%x", md5.Sum([]byte(strings.ToLower(email))))
}
