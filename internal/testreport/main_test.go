package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const stream = `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: a passing test's log\n"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.5}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:7: what went wrong\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"--- FAIL: TestB (2.25s)\n"}
{"Action":"fail","Package":"p","Test":"TestB","Elapsed":2.25}
{"Action":"output","Package":"p","Output":"FAIL\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t3.000s\n"}
{"Action":"fail","Package":"p","Elapsed":3}
# a line that is not JSON
{"Action":"output","Package":"q","Test":"TestC","Output":"=== RUN   TestC\n"}
{"Action":"pass","Package":"q","Test":"TestC","Elapsed":0.1}
{"Action":"output","Package":"q","Output":"PASS\n"}
{"Action":"output","Package":"q","Output":"ok  \tq\t1.000s\n"}
{"Action":"pass","Package":"q","Elapsed":1}
`

// What go test prints without -v: failures in full, passes as one line.
func TestReport_PrintsWhatGoTestPrintsAndTheSlowest(t *testing.T) {
	var out bytes.Buffer
	failed, err := report(strings.NewReader(stream), &out, 1)
	require.NoError(t, err)
	assert.True(t, failed)
	text := out.String()
	assert.Contains(t, text, "    b_test.go:7: what went wrong\n--- FAIL: TestB (2.25s)\nFAIL\nFAIL\tp\t3.000s\n")
	assert.Contains(t, text, "# a line that is not JSON\n")
	assert.Contains(t, text, "ok  \tq\t1.000s\n")
	assert.NotContains(t, text, "a passing test's log")
	assert.NotContains(t, text, "=== RUN   TestC")
	assert.Contains(t, text, "slowest tests:\n      2.3s  p TestB\n")
	assert.NotContains(t, text, "0.5s  p TestA", "only the top one")
	assert.Contains(t, text, "        3s  p\n")
}

func TestReport_PassingRunAndEmptyInput(t *testing.T) {
	failed, err := report(strings.NewReader(`{"Action":"pass","Package":"q","Elapsed":1}`), &bytes.Buffer{}, 5)
	require.NoError(t, err)
	assert.False(t, failed)
	_, err = report(strings.NewReader(""), &bytes.Buffer{}, 5)
	assert.Error(t, err, "no results is not a pass")
}

// A test that never ends (the binary panicked or timed out under it) has
// its output printed with its package's failure.
func TestReport_TestThatNeverEndedIsPrinted(t *testing.T) {
	const timedOut = `{"Action":"output","Package":"p","Test":"TestHang","Output":"=== RUN   TestHang\n"}
{"Action":"output","Package":"p","Test":"TestHang","Output":"panic: test timed out after 15m0s\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t900.000s\n"}
{"Action":"fail","Package":"p","Elapsed":900}
`
	var out bytes.Buffer
	failed, err := report(strings.NewReader(timedOut), &out, 5)
	require.NoError(t, err)
	assert.True(t, failed)
	assert.Contains(t, out.String(), "panic: test timed out after 15m0s\nFAIL\tp\t900.000s\n")
}
