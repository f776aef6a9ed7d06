package app

import (
	"time"

	"github.com/blueberry-idp/envtrack/exporter/backoff"
)

// pollRetryWait is how long the poller waits after a failed Argo CD call. Backoff
// protects Argo CD from a flood of retries, not envtrack from seeing: the wait grows
// from backoff.initial but never beyond the poll interval, so tracking resumes within
// one poll interval of Argo CD answering again (a 6 s fault used to leave envtrack
// blind for 13 s and more). It is never below initial, whatever the jitter draws.
func pollRetryWait(interval, initial time.Duration, b *backoff.Backoff) time.Duration {
	return min(interval, max(initial, b.Next()))
}
