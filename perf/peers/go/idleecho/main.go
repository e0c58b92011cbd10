// The Go peer of weft-idle-echo (perf/idle/echo.cc), for perf/idle: a
// goroutine per connection reading into a 4 KiB buffer and writing back what
// came, as a Go service that holds many idle connections is written.
//
//	weft-peer-go-idleecho -port 0 [-procs N]
//
// Prints "listening on 127.0.0.1:<port> (go <version>)" on stderr; runs
// until killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
)

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free one)")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: Go's default, one per CPU)")
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "weft-peer-go-idleecho:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "listening on %s (go %s)\n", l.Addr(), runtime.Version())
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go echo(c)
	}
}
