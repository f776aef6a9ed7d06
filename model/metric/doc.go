// Package metric defines every metric envtrack exposes, once (DESIGN §4): the lifecycle
// metrics under metrics.namespace (lifecycle.go: Lifecycle, In(namespace)) and the
// self-monitoring metrics under envtrack_ (selfmon.go): name, help, type, labels,
// buckets, native-histogram settings and exemplar label. The collectors (exporter/prom,
// exporter/app, exporter/argocd, exporter/labels, exporter/probe, exporter/sink,
// exporter/store, annotate) are built and registered from these definitions (Def's
// New... constructors), and the dashboards package adds the panels, alerts, recording
// rules and handbook text to the same values, so the two cannot disagree. It is a leaf:
// it imports nothing of envtrack, so every collector and generator can use it.
package metric
