// The showdown's HTTP service in Go (net/http): the same routes as
// weft-http (examples/http/server.h). /heavy computes without yielding
// (Go 1.14+ may still preempt it asynchronously, as the runtime does).
//
//	weft-peer-go-http --port 0
//
// Prints `listening on 127.0.0.1:<port> (go <version>, GOMAXPROCS=<n>)`
// once it accepts.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"time"
)

var digits = regexp.MustCompile(`^[0-9]+$`)

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func main() {
	port := flag.Int("port", 8080, "port (0: any free one)")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			reply(w, 405, "use GET\n")
			return
		}
		reply(w, 200, "pong\n")
	})
	mux.HandleFunc("/heavy", func(w http.ResponseWriter, r *http.Request) {
		text := r.URL.Query().Get("ms")
		ms, err := strconv.Atoi(text)
		if !digits.MatchString(text) || err != nil || ms > 60000 {
			reply(w, 400, "ms must be a whole number from 0 to 60000\n")
			return
		}
		end := time.Now().Add(time.Duration(ms) * time.Millisecond)
		work := 0
		for time.Now().Before(end) {
			work++
		}
		reply(w, 200, fmt.Sprintf("computed %d ms\n", ms))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			reply(w, 405, "use POST\n")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			reply(w, 400, "bad body\n")
			return
		}
		reply(w, 200, string(body))
	})
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s (go %s, GOMAXPROCS=%d)\n", ln.Addr(), runtime.Version(), runtime.GOMAXPROCS(0))
	srv := &http.Server{Handler: mux, IdleTimeout: 30 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
