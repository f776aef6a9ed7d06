// Package apitypes is the JSON contract of envtrack's HTTP API (DESIGN §3): the
// documents the API answers (timelines, performance insights, environments, push
// receipts and batch errors) and the events it takes (lifecycle events and deployment
// markers), with the one validation of a pushed event (DecodeEvent).
//
// The server side (exporter/api serves them, exporter/query computes them,
// exporter/web renders them) and the CLI's client (package client) both use these
// types, so they cannot drift apart, and `envtrack import --dry-run` validates a
// history file exactly as the server will without linking the server. It is a leaf:
// it imports only model/event.
package apitypes
