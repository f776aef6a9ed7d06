//go:build !linux

package store

import bolt "go.etcd.io/bbolt"

// releasePages is a no-op where envtrack does not release mapped pages (see the Linux
// version).
func releasePages(*bolt.DB, *bolt.Tx) {}
