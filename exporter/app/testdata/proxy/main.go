// Command proxy is the least a second process on a query's path can cost: a reverse
// proxy (net/http/httputil) that forwards every request to one InfluxDB as it is.
// BenchmarkTimelineQuery measures the bare statement through it, beside envtrack.
//
// With -raw it is less still: no net/http server or client, one goroutine per client
// connection that reads a request, writes it to a pooled connection to InfluxDB, and
// copies the answer back (http.ReadRequest, Request.Write, http.ReadResponse,
// Response.Write). net/http hands each request between goroutines (the server's
// background read, the client's read and write loops); this shows what those cost.
package main

import (
	"bufio"
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "InfluxDB's URL")
	raw := flag.Bool("raw", false, "forward without net/http's server and client")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		log.Fatalf("-target %q: not a URL", *target)
	}
	if *raw {
		log.Fatal(forwardRaw(*listen, u.Host))
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.FlushInterval = -1 // InfluxDB's chunks as they come, as envtrack reads them
	log.Fatal(http.ListenAndServe(*listen, p))
}

// upstream is a kept-alive connection to InfluxDB.
type upstream struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func forwardRaw(listen, host string) error {
	var (
		mu   sync.Mutex
		idle []*upstream
	)
	get := func() (*upstream, error) {
		mu.Lock()
		if n := len(idle); n > 0 {
			up := idle[n-1]
			idle = idle[:n-1]
			mu.Unlock()
			return up, nil
		}
		mu.Unlock()
		c, err := net.Dial("tcp", host)
		if err != nil {
			return nil, err
		}
		return &upstream{c, bufio.NewReader(c), bufio.NewWriter(c)}, nil
	}
	put := func(up *upstream) {
		mu.Lock()
		idle = append(idle, up)
		mu.Unlock()
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			r, w := bufio.NewReader(c), bufio.NewWriter(c)
			for {
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				up, err := get()
				if err != nil {
					return
				}
				if err := writeRequest(req, up.w); err != nil {
					up.conn.Close()
					return
				}
				resp, err := http.ReadResponse(up.r, req)
				if err == nil {
					err = resp.Write(w) // the whole body: the upstream connection is free again
					resp.Body.Close()
				}
				if err != nil || resp.Close {
					up.conn.Close()
				} else {
					put(up)
				}
				if err != nil || w.Flush() != nil || req.Close {
					return
				}
			}
		}()
	}
}

// writeRequest writes req and flushes w (Request.Write does not flush a *bufio.Writer).
func writeRequest(req *http.Request, w *bufio.Writer) error {
	if err := req.Write(w); err != nil {
		return err
	}
	return w.Flush()
}
