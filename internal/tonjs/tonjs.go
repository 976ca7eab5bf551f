// Package tonjs runs the npm cross-check in testdata/tonjs (@ton/core,
// @ton/ton, @ton/sandbox) for tests: one JSON request on stdin, one JSON
// answer on stdout. The engines only compute and report; the Go tests
// compare with what our code produced.
//
// A test that needs node skips when node or the installed npm project is
// missing, unless OPENMONEY_TEST_REQUIRE_NODE is set (.ci/run sets it after
// `npm ci`), in which case it fails.
package tonjs

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// RequireEnv, when set to anything, turns a missing node into a failure.
const RequireEnv = "OPENMONEY_TEST_REQUIRE_NODE"

// Dir is the npm project's folder (testdata/tonjs at the module root).
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "tonjs")
}

// Available reports whether node and the installed project are there, and
// if not, why.
func Available() (bool, string) {
	if _, err := exec.LookPath("node"); err != nil {
		return false, "node is not on PATH"
	}
	if _, err := os.Stat(filepath.Join(Dir(), "node_modules", "@ton", "sandbox")); err != nil {
		return false, "the npm project is not installed: run `npm ci --prefix testdata/tonjs`"
	}
	return true, ""
}

// Need skips (or, with RequireEnv set, fails) tb when node cannot run.
func Need(tb testing.TB) {
	tb.Helper()
	ok, why := Available()
	if ok {
		return
	}
	if os.Getenv(RequireEnv) != "" {
		tb.Fatalf("%s is set but the npm cross-check cannot run: %s", RequireEnv, why)
	}
	tb.Skipf("npm cross-check skipped: %s (set %s=1 to make this a failure)", why, RequireEnv)
}

// Run sends req to crosscheck.js and decodes its answer into resp.
func Run(tb testing.TB, req, resp any) {
	tb.Helper()
	Need(tb)
	in, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	// Read the script and the lockfile here so that go test's result cache
	// is invalidated when they change (it tracks files the test opens, not
	// those node opens).
	for _, f := range []string{"crosscheck.js", "jettons.js", "package-lock.json"} {
		if _, err := os.ReadFile(filepath.Join(Dir(), f)); err != nil {
			tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "crosscheck.js")
	cmd.Dir = Dir()
	cmd.Stdin = bytes.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("node crosscheck.js: %v\n%s", err, errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), resp); err != nil {
		tb.Fatalf("node crosscheck.js answer: %v\n%s", err, out.String())
	}
}
