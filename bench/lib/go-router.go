// The go-httputil path of the bench: Go's standard-library reverse proxy
// routing on x-telepresence-id, as an operator would write it in Go. The bench
// copies this file into its work directory and builds it there with
// `go build` (standard library only, no network); see bench/lib/servers.mjs.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"time"
)

// bufferPool lends ReverseProxy its copy buffers; without one it allocates
// 32 KiB per response.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte  { return *(b.pool.Get().(*[]byte)) }
func (b *bufferPool) Put(p []byte) { b.pool.Put(&p) }

func main() {
	app := flag.String("app", "", "URL of the app")
	laptop := flag.String("laptop", "", "URL of the developer's laptop")
	value := flag.String("header-value", "", "x-telepresence-id value routed to the laptop")
	flag.Parse()

	// The default transport keeps 2 idle connections per host; wrk's 50
	// connections would then mostly measure TCP handshakes, so it is sized as
	// the other routers' keep-alive pools are.
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     75 * time.Second,
		DisableCompression:  true,
	}
	pool := &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}}
	proxyTo := func(raw string) *httputil.ReverseProxy {
		target, err := url.Parse(raw)
		if err != nil {
			log.Fatalf("bad upstream URL %q: %v", raw, err)
		}
		p := httputil.NewSingleHostReverseProxy(target)
		p.Transport = transport
		p.BufferPool = pool
		return p
	}
	toApp, toLaptop := proxyTo(*app), proxyTo(*laptop)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Telepresence-Id") == *value {
			toLaptop.ServeHTTP(w, r)
			return
		}
		toApp.ServeHTTP(w, r)
	})

	// Port 0: the kernel picks it and the bench reads it from this line.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "go-httputil listening on http://%s\n", ln.Addr())
	log.Fatal((&http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}).Serve(ln))
}
