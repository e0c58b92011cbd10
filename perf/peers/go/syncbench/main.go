// weft-peer-go-syncbench: the Go side of weft-bench-sync (perf/bench_sync.cc).
//
// The same five programs, the same parameters, the same key=value output, so
// perf/peers/go/run-sync can put the two side by side:
//
//	pingpong   two goroutines bounce an int over two unbuffered channels
//	spawn      start N goroutines that each do trivial work and signal a
//	           sync.WaitGroup; wait; repeat (median of the rounds)
//	spawntree  parallel Fibonacci: a goroutine per call with n >= cutoff
//	mutex      F goroutines each lock/increment/unlock a shared counter K times
//	rwmutex    F goroutines each make K accesses to a table, one in ten a write:
//	           under sync.RWMutex, then under sync.Mutex (one run)
//	wakeup     latency from a send on one thread to the parked receiver
//	           running again on another
//	ticker     lateness of a time.Ticker's ticks while F goroutines keep
//	           every thread busy (each spins busy-ns, then Gosched), beside
//	           a time.Sleep(period) measured the same way
//
// Every benchmark prints one line of space-separated key=value pairs.
//
//	weft-peer-go-syncbench -bench pingpong -procs 1 -rounds 1000000
//
// Flags may be written -name or --name (Go's flag package takes both), which is
// how the weft program spells them.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	bench     = flag.String("bench", "", "pingpong | spawn | spawntree | mutex | rwmutex | wakeup | ticker")
	procs     = flag.Int("procs", 1, "GOMAXPROCS")
	rounds    = flag.Int("rounds", 0, "pingpong: bounces (default 1000000); spawn: measured rounds (default 10)")
	fibers    = flag.Int("fibers", 0, "spawn: goroutines per round (default 100000); mutex: goroutines (default 8)")
	n         = flag.Int("n", 39, "spawntree: fib(n)")
	cutoff    = flag.Int("cutoff", 12, "spawntree: calls with n >= cutoff start a goroutine")
	ops       = flag.Int("ops", 200000, "mutex: lock/unlock pairs per goroutine; rwmutex: accesses per goroutine")
	work      = flag.Int("work", 64, "rwmutex: table slots each access reads or writes")
	samples   = flag.Int("samples", 2000, "wakeup: samples")
	sleepUs   = flag.Int("sleep-us", 200, "wakeup: pause between samples, so the receiver's thread goes idle")
	sender    = flag.String("sender", "spin", "wakeup: after sending, spin (the receiver must run on another thread) or sleep")
	pause     = flag.String("pause", "spin", "wakeup: how the sender waits between samples: spin (keeps its thread), yield (spins calling Gosched) or sleep")
	maxSecs   = flag.Int("max-seconds", 10, "pingpong, mutex: stop early (and say how much was done) after this long")
	periodUs  = flag.Int("period-us", 1000, "ticker: the period")
	busyNs    = flag.Int("busy-ns", 1000, "ticker: what each busy goroutine computes between yields")
	placement = flag.String("placement", "any", "pingpong: any, or cross (each goroutine locked to its own thread)")
)

// now is a monotonic clock in nanoseconds since the program started.
var start = time.Now()

func now() int64 { return int64(time.Since(start)) }

func header(name string) string {
	return fmt.Sprintf("bench=%s impl=go procs=%d", name, runtime.GOMAXPROCS(0))
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ---- pingpong ----------------------------------------------------------------

// bounce runs up to r rounds (fewer if -max-seconds passes) and returns the
// rounds done and the nanoseconds they took.
func bounce(r int, lock bool) (int, int64) {
	ping := make(chan int)
	pong := make(chan int)
	done := make(chan struct{})
	go func() {
		if lock {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		for v := range ping {
			pong <- v + 1
		}
		close(done)
	}()
	t0 := now()
	giveUp := t0 + int64(*maxSecs)*1e9
	sum, expect := 0, 0
	i := 0
	for i < r {
		ping <- i
		sum += <-pong
		expect += i + 1
		i++
		if i&1023 == 0 && now() > giveUp {
			break
		}
	}
	t1 := now()
	close(ping)
	<-done
	if sum != expect {
		fmt.Fprintln(os.Stderr, "pingpong: wrong sum")
		os.Exit(1)
	}
	return i, t1 - t0
}

func pingpong() {
	r := *rounds
	if r == 0 {
		r = 1000000
	}
	lock := *placement == "cross"
	if lock {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	bounce(r/10+1, lock) // warm-up
	r, ns := bounce(r, lock)
	// The thread a goroutine runs on costs a system call to learn, too much
	// to ask every round: no cross_fraction on this side.
	fmt.Printf("%s placement=%s rounds=%d ns_per_round=%.1f cross_fraction=na\n",
		header("pingpong"), *placement, r, float64(ns)/float64(r))
}

// ---- spawn -------------------------------------------------------------------

func spawnRound(count int, out []int) int64 {
	var wg sync.WaitGroup
	wg.Add(count)
	t0 := now()
	for i := 0; i < count; i++ {
		go func(i int) {
			out[i] = i
			wg.Done()
		}(i)
	}
	wg.Wait()
	return now() - t0
}

func spawn() {
	count := *fibers
	if count == 0 {
		count = 100000
	}
	r := *rounds
	if r == 0 {
		r = 10
	}
	out := make([]int, count)
	spawnRound(count, out) // warm-up: goroutine stacks and records get cached
	var rates []float64
	for i := 0; i < r; i++ {
		ns := spawnRound(count, out)
		rates = append(rates, float64(count)/(float64(ns)/1e9))
	}
	m := median(rates)
	fmt.Printf("%s fibers=%d rounds=%d stat=median per_s=%.0f ns_per_fiber=%.1f\n",
		header("spawn"), count, r, m, 1e9/m)
}

// ---- spawntree ---------------------------------------------------------------

//go:noinline
func fibSerial(k int) int {
	if k < 2 {
		return k
	}
	return fibSerial(k-1) + fibSerial(k-2)
}

// spawnCount is how many goroutines fibPar(k, cut) starts, counted apart so
// that no shared counter is touched on the measured path.
func spawnCount(k, cut int) int {
	if k < cut || k < 2 {
		return 0
	}
	return 1 + spawnCount(k-1, cut) + spawnCount(k-2, cut)
}

func fibPar(k, cut int) int {
	if k < cut || k < 2 {
		return fibSerial(k)
	}
	var x int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		x = fibPar(k-1, cut)
		wg.Done()
	}()
	y := fibPar(k-2, cut)
	wg.Wait()
	return x + y
}

func spawntree() {
	t0 := now() // the serial reference first, as on the weft side
	serial := fibSerial(*n)
	t1 := now()
	res := fibPar(*n, *cutoff)
	t2 := now()
	if res != serial {
		fmt.Fprintln(os.Stderr, "spawntree: wrong result")
		os.Exit(1)
	}
	fmt.Printf("%s n=%d cutoff=%d seconds=%.4f result=%d spawned=%d serial_seconds=%.4f\n",
		header("spawntree"), *n, *cutoff, float64(t2-t1)/1e9, res, spawnCount(*n, *cutoff), float64(t1-t0)/1e9)
}

// ---- rwmutex -----------------------------------------------------------------

// rwRound: F goroutines each make K accesses to a table of `work` slots,
// one in ten a write (every slot incremented), the rest reads (every slot
// summed); ns per access.
func rwRound(f, k, work int, rw bool) (float64, int64) {
	var rwmu sync.RWMutex
	var mu sync.Mutex
	table := make([]int64, work)
	var writes, sink int64
	var wg sync.WaitGroup
	wg.Add(f)
	t0 := now()
	for i := 0; i < f; i++ {
		go func(i int) {
			var local int64
			for j := 0; j < k; j++ {
				if (i+j)%10 == 0 {
					if rw {
						rwmu.Lock()
					} else {
						mu.Lock()
					}
					for s := range table {
						table[s]++
					}
					atomic.AddInt64(&writes, 1)
					if rw {
						rwmu.Unlock()
					} else {
						mu.Unlock()
					}
				} else {
					if rw {
						rwmu.RLock()
					} else {
						mu.Lock()
					}
					for _, v := range table {
						local += v
					}
					if rw {
						rwmu.RUnlock()
					} else {
						mu.Unlock()
					}
				}
			}
			atomic.AddInt64(&sink, local)
			wg.Done()
		}(i)
	}
	wg.Wait()
	ns := now() - t0
	if table[0] != writes {
		fmt.Fprintln(os.Stderr, "rwmutex: wrong count")
		os.Exit(1)
	}
	return float64(ns) / float64(f*k), writes
}

func rwmutex() {
	f := *fibers
	if f == 0 {
		f = 8
	}
	rw, writes := rwRound(f, *ops, *work, true)
	ex, _ := rwRound(f, *ops, *work, false)
	fmt.Printf("%s fibers=%d ops_per_fiber=%d work=%d writes=%d rwmutex_ns_per_op=%.1f mutex_ns_per_op=%.1f rwmutex_over_mutex=%.3f\n",
		header("rwmutex"), f, *ops, *work, writes, rw, ex, rw/ex)
}

// ---- mutex -------------------------------------------------------------------

func mutex() {
	f := *fibers
	if f == 0 {
		f = 8
	}
	k := *ops
	var mu sync.Mutex
	counter := 0 // guarded by mu
	var stop int32
	var doneOps int64
	var wg sync.WaitGroup
	wg.Add(f)
	t0 := now()
	for i := 0; i < f; i++ {
		go func() {
			j := 0
			for j < k {
				mu.Lock()
				counter++
				mu.Unlock()
				j++
				if j&1023 == 0 && atomic.LoadInt32(&stop) != 0 {
					break
				}
			}
			atomic.AddInt64(&doneOps, int64(j))
			wg.Done()
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Duration(*maxSecs) * time.Second):
		atomic.StoreInt32(&stop, 1)
		<-finished
	}
	ns := now() - t0
	if int64(counter) != doneOps {
		fmt.Fprintln(os.Stderr, "mutex: wrong count")
		os.Exit(1)
	}
	fmt.Printf("%s fibers=%d ops_per_fiber=%d ops=%d ns_per_op=%.1f\n",
		header("mutex"), f, k, counter, float64(ns)/float64(counter))
}

// ---- wakeup ------------------------------------------------------------------

type stamp struct {
	sent   int64 // now() just before the send
	thread int   // the sender's thread
}

func wakeup() {
	s := *samples
	spin := *sender == "spin"
	if spin && *procs < 2 {
		fmt.Fprintln(os.Stderr, "wakeup: -sender spin needs -procs 2 or more (the receiver runs on another thread)")
		os.Exit(2)
	}
	ch := make(chan stamp)
	var got int64 // the receiver has taken sample got-1
	lat := make([]float64, 0, s)
	cross := 0
	late := 0
	done := make(chan struct{})
	go func() { // the sender
		for i := 0; i < s; i++ {
			if *pause == "sleep" {
				time.Sleep(time.Duration(*sleepUs) * time.Microsecond)
			} else {
				// Busy: spin, or spin yielding (-pause yield).
				until := now() + int64(*sleepUs)*1000
				for now() < until {
					if *pause == "yield" {
						runtime.Gosched()
					}
				}
			}
			tid := syscall.Gettid()
			ch <- stamp{now(), tid}
			if spin {
				// Keep this thread busy until the receiver has run: it must
				// run on the other thread. Bounded: 10 ms.
				limit := now() + 10000000
				for atomic.LoadInt64(&got) <= int64(i) {
					if now() > limit {
						late++
						break
					}
				}
			}
		}
		close(done)
	}()
	for i := 0; i < s; i++ {
		v := <-ch
		t := now()
		if syscall.Gettid() != v.thread {
			cross++
		}
		lat = append(lat, float64(t-v.sent))
		atomic.StoreInt64(&got, int64(i+1))
	}
	<-done
	sort.Float64s(lat)
	pct := func(p float64) float64 { return lat[int(p*float64(len(lat)-1))] }
	fmt.Printf("%s samples=%d sleep_us=%d sender=%s pause=%s p50_ns=%.0f p99_ns=%.0f max_ns=%.0f cross_fraction=%.3f spin_timeouts=%d\n",
		header("wakeup"), s, *sleepUs, *sender, *pause, pct(0.5), pct(0.99), lat[len(lat)-1],
		float64(cross)/float64(s), late)
}

func ticker() {
	f := *fibers
	if f == 0 {
		f = 10000
	}
	period := time.Duration(*periodUs) * time.Microsecond
	var stop int32
	var started int64
	var wg sync.WaitGroup
	for i := 0; i < f; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			atomic.AddInt64(&started, 1)
			for atomic.LoadInt32(&stop) == 0 {
				until := now() + int64(*busyNs)
				for now() < until {
				}
				runtime.Gosched()
			}
		}()
	}
	for atomic.LoadInt64(&started) < int64(f) {
		runtime.Gosched()
	}
	t0 := now()
	half := time.Duration(*maxSecs) * time.Second / 3
	var tickLate, sleepLate []float64
	// Go's tick carries the time it was sent; its ticker keeps the grid
	// begin + k*period, so the tick was due at the grid line before that.
	begin := time.Now()
	tk := time.NewTicker(period)
	giveUp := time.Now().Add(half)
	for i := 0; i < *samples && time.Now().Before(giveUp); i++ {
		sent := <-tk.C
		due := begin.Add(sent.Sub(begin) / period * period)
		tickLate = append(tickLate, float64(time.Since(due)))
	}
	tk.Stop()
	giveUp = time.Now().Add(half)
	for i := 0; i < *samples && time.Now().Before(giveUp); i++ {
		due := time.Now().Add(period)
		time.Sleep(period)
		sleepLate = append(sleepLate, float64(time.Since(due)))
	}
	seconds := float64(now()-t0) / 1e9
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	pct := func(v []float64, p float64) float64 {
		sort.Float64s(v)
		return v[int(p*float64(len(v)-1))] / 1e3
	}
	fmt.Printf("%s fibers=%d ticks=%d sleeps=%d period_us=%d busy_ns=%d ticker_p50_us=%.1f ticker_p99_us=%.1f ticker_max_us=%.1f sleep_p50_us=%.1f sleep_p99_us=%.1f sleep_max_us=%.1f seconds=%.2f\n",
		header("ticker"), f, len(tickLate), len(sleepLate), *periodUs, *busyNs,
		pct(tickLate, 0.5), pct(tickLate, 0.99), pct(tickLate, 1), pct(sleepLate, 0.5), pct(sleepLate, 0.99), pct(sleepLate, 1), seconds)
}

func main() {
	flag.Parse()
	runtime.GOMAXPROCS(*procs)
	switch *bench {
	case "pingpong":
		pingpong()
	case "spawn":
		spawn()
	case "spawntree":
		spawntree()
	case "mutex":
		mutex()
	case "rwmutex":
		rwmutex()
	case "wakeup":
		wakeup()
	case "ticker":
		ticker()
	default:
		fmt.Fprintln(os.Stderr, "usage: weft-peer-go-syncbench -bench pingpong|spawn|spawntree|mutex|rwmutex|wakeup|ticker [-procs P] ...")
		os.Exit(2)
	}
}
