// Command proxy is the least a second process on a query's path can cost: a reverse
// proxy (net/http/httputil) that forwards every request to one InfluxDB as it is.
// BenchmarkTimelineQuery measures the bare statement through it, beside envtrack.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "InfluxDB's URL")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		log.Fatalf("-target %q: not a URL", *target)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.FlushInterval = -1 // InfluxDB's chunks as they come, as envtrack reads them
	log.Fatal(http.ListenAndServe(*listen, p))
}
