// Command testreport reads `go test -json` on stdin, prints the tests' own
// output as `go test` would, and ends with the slowest tests and packages,
// so that `make test` says where its minutes go:
//
//	go test -json ./... | go run ./internal/testreport -top 15
//
// It exits non-zero when a test or package failed (or the stream held no
// result at all), so a pipeline with `set -o pipefail` fails either way.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

type timing struct {
	name    string
	elapsed time.Duration
}

func main() {
	top := flag.Int("top", 15, "how many of the slowest tests and packages to list")
	flag.Parse()
	failed, err := report(os.Stdin, os.Stdout, *top)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// report prints what `go test` without -v prints (a package's summary
// line; the output of each test that failed, and of its package when it
// failed) and appends the timings; it returns whether anything failed.
// (-json implies -v: every test's output arrives, and is dropped here when
// the test passed.)
func report(in io.Reader, out io.Writer, top int) (failed bool, err error) {
	var tests, packages []timing
	results := 0
	byTest := map[string][]string{}    // package + test -> its output so far
	failures := map[string][]string{}  // package -> the output of its failed tests
	pkgOutput := map[string][]string{} // package -> its own output (not a test's)
	// flush prints a failed package's output: its failed tests', the
	// output of tests that never ended (a panic or a timeout ends the
	// binary under them), then its own.
	flush := func(pkg string) {
		for key, lines := range byTest {
			if strings.HasPrefix(key, pkg+" ") {
				failures[pkg] = append(failures[pkg], lines...)
				delete(byTest, key)
			}
		}
		for _, l := range append(failures[pkg], pkgOutput[pkg]...) {
			fmt.Fprint(out, l)
		}
		delete(failures, pkg)
		delete(pkgOutput, pkg)
	}
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 1<<20), 16<<20)
	for lines.Scan() {
		var e event
		if json.Unmarshal(lines.Bytes(), &e) != nil {
			fmt.Fprintln(out, lines.Text()) // not JSON: a build error, say
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "output" && e.Test != "":
			byTest[key] = append(byTest[key], e.Output)
		case e.Action == "output" && isSummary(e.Output):
			if strings.HasPrefix(e.Output, "FAIL\t") {
				flush(e.Package)
			}
			fmt.Fprint(out, e.Output)
		case e.Action == "output":
			pkgOutput[e.Package] = append(pkgOutput[e.Package], e.Output)
		case e.Action == "pass" || e.Action == "fail":
			results++
			d := time.Duration(e.Elapsed * float64(time.Second))
			if e.Test != "" {
				tests = append(tests, timing{e.Package + " " + e.Test, d})
				if e.Action == "fail" {
					failures[e.Package] = append(failures[e.Package], byTest[key]...)
				}
				delete(byTest, key)
				break
			}
			packages = append(packages, timing{e.Package, d})
			if e.Action == "fail" {
				failed = true
				flush(e.Package)
			}
			delete(failures, e.Package)
			delete(pkgOutput, e.Package)
		}
	}
	if err := lines.Err(); err != nil {
		return true, fmt.Errorf("read: %w", err)
	}
	if results == 0 {
		return true, fmt.Errorf("no test results in the input")
	}
	list(out, "slowest tests", tests, top)
	list(out, "slowest packages (their tests run in parallel with other packages')", packages, top)
	return failed, nil
}

// isSummary says whether a package's line is its one-line result, which
// go test prints without -v too.
func isSummary(line string) bool {
	for _, prefix := range []string{"ok  \t", "?   \t", "FAIL\t"} {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

func list(out io.Writer, title string, ts []timing, top int) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].elapsed > ts[j].elapsed })
	fmt.Fprintf(out, "\n%s:\n", title)
	for _, t := range ts[:min(top, len(ts))] {
		fmt.Fprintf(out, "  %8s  %s\n", t.elapsed.Round(100*time.Millisecond), t.name)
	}
}
