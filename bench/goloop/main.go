// goloop: cost of one time.Now() in a Go program, for bench_reach.py.
//
//	goloop now|syscall [CALLS [REPS]]
//
// (syscall: clock_gettime(CLOCK_REALTIME) as a raw system call per read,
// Chaos Mesh's approach.) Times REPS batches with raw MONOTONIC_RAW
// syscalls and prints the median batch as "ns_per_call X.XXX".
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

func raw(clock uintptr) syscall.Timespec {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clock, uintptr(unsafe.Pointer(&ts)), 0)
	return ts
}

var sink int64

func batch(mode string, calls int) {
	var acc int64
	for i := 0; i < calls; i++ {
		if mode == "now" {
			acc += time.Now().UnixNano()
		} else {
			acc += raw(0).Nsec
		}
	}
	sink = acc
}

func main() {
	mode, calls, reps := "now", 1000000, 11
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if len(os.Args) > 2 {
		calls, _ = strconv.Atoi(os.Args[2])
	}
	if len(os.Args) > 3 {
		reps, _ = strconv.Atoi(os.Args[3])
	}
	batch(mode, calls)
	per := make([]float64, reps)
	for r := range per {
		start := raw(4)
		batch(mode, calls)
		end := raw(4)
		per[r] = float64(end.Nano()-start.Nano()) / float64(calls)
	}
	sort.Float64s(per)
	fmt.Printf("ns_per_call %.3f\n", per[reps/2])
}
