package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// buildInfo is what the binary knows about its own build, from the Go
// toolchain's build info: a plain `go build` in a git checkout records the
// module version (a tag, or a pseudo-version made from the commit) and the
// VCS revision, time and modified flag. `go run` and `go test` binaries
// carry none of that and report "dev".
type buildInfo struct {
	Version  string // module version, e.g. v1.2.0 or v0.0.0-20261202015121-7b2ed41a9c3e+dirty; "dev" when unknown
	Revision string // VCS commit; "" when unknown
	Time     string // commit time (RFC 3339); "" when unknown
	Modified bool   // the working tree had uncommitted changes
	Go       string // toolchain
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "dev"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Go = bi.GoVersion
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		b.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	if b.Version == "dev" && b.Revision != "" { // VCS stamped, no module version
		b.Version = "dev-" + short(b.Revision)
		if b.Modified {
			b.Version += "+dirty"
		}
	}
	return b
}

func short(rev string) string { return rev[:min(len(rev), 12)] }

// String is what `openmoney version` prints.
func (b buildInfo) String() string {
	var parts []string
	if b.Revision != "" {
		rev := "revision " + b.Revision
		if b.Modified {
			rev += " (modified)"
		}
		parts = append(parts, rev)
	}
	if b.Time != "" {
		parts = append(parts, "committed "+b.Time)
	}
	if b.Go != "" {
		parts = append(parts, b.Go)
	}
	if len(parts) == 0 {
		return "openmoney " + b.Version
	}
	return fmt.Sprintf("openmoney %s (%s)", b.Version, strings.Join(parts, ", "))
}
