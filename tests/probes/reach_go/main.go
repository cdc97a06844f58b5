// reach_go MODE: what a Go program reads (its runtime reads the vDSO
// itself, never libc). Built by tests/test_reach.py with CGO_ENABLED=0 and
// with cgo. Prints "name value host" as reach_clock.c does.
//
//	read       time.Now()
//	watch      "ready", then a line and "end" per line read on stdin
//	block N    "ready", then N times: time.Sleep(300ms) (futex and epoll in
//	           the runtime), then a line; "done" at the end
//	exec ARG.. run the command ARG.. four times at once, from goroutines,
//	           and print what each wrote
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Host REALTIME from the raw syscall, which nothing patches.
func host() int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 0, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func line(name string) {
	h := host()
	fmt.Printf("%s %d %d\n", name, time.Now().UnixNano(), h)
}

func main() {
	mode := "read"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "read":
		line("time.Now")
	case "watch":
		fmt.Println("ready")
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			line("time.Now")
			fmt.Println("end")
		}
	case "block":
		n, _ := strconv.Atoi(os.Args[2])
		fmt.Println("ready")
		for i := 0; i < n; i++ {
			time.Sleep(300 * time.Millisecond)
			line("tick")
		}
		fmt.Println("done")
	case "exec":
		var wg sync.WaitGroup
		out := make([][]byte, 4)
		for i := range out {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				out[i], _ = exec.Command(os.Args[2], os.Args[3:]...).Output()
			}(i)
		}
		wg.Wait()
		for _, o := range out {
			os.Stdout.Write(o)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: reach_go read|watch|block N|exec ARG...")
		os.Exit(2)
	}
}
