package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A `go build` from a git checkout reports the module version and the
// commit it was built from (the go command stamps them; no -X ldflags),
// built as deploy/Containerfile builds it: a static binary.
func TestVersionOfAGitBuildNamesTheRevision(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gitOut := func(dir string, args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
		if err != nil {
			t.Skipf("git %v: %v (not a git checkout?)", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	top := gitOut(".", "rev-parse", "--show-toplevel")
	head := gitOut(".", "rev-parse", "HEAD")
	dir := top
	if fi, err := os.Stat(filepath.Join(top, ".git")); err == nil && !fi.IsDir() {
		// A git worktree (.git is a file): the go command stamps VCS data
		// only where .git is a directory, so build a clone of HEAD.
		dir = filepath.Join(t.TempDir(), "clone")
		gitOut(".", "clone", "-q", "--no-checkout", top, dir)
		gitOut(dir, "checkout", "-q", head)
	}
	bin := filepath.Join(t.TempDir(), "openmoney")
	// The build deploy/Containerfile runs: static, trimmed, VCS-stamped (the
	// machine's go env may turn stamping off; a release build has it on).
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(out))
	if !strings.Contains(v, "revision "+head) || !strings.Contains(v, head[:12]) || strings.HasPrefix(v, "openmoney dev ") {
		t.Fatalf("version %q does not name the module version and revision %s", v, head)
	}
	t.Log(v)
	// Static: no program interpreter, so it runs on distroless/static.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the container build is dynamically linked")
		}
	}
}
