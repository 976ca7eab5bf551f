package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestArchitectureMapsEveryFolder: docs/ARCHITECTURE.md's code map names
// every Go package folder of the repository, and every folder it names
// exists.
func TestArchitectureMapsEveryFolder(t *testing.T) {
	doc, err := os.ReadFile("docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	mapped := map[string]bool{}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || filepath.Dir(path) == "." {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(path)) + "/"
		if mapped[dir] {
			return nil
		}
		mapped[dir] = true
		if !strings.Contains(text, "`"+dir+"`") && !strings.Contains(text, "`"+strings.TrimSuffix(dir, "/")+"`") {
			t.Errorf("docs/ARCHITECTURE.md does not map %s", dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\| (.+?) \|`).FindAllStringSubmatch(text, -1) {
		for _, f := range regexp.MustCompile("`([a-z][a-z/]*)/?`").FindAllStringSubmatch(m[1], -1) {
			if _, err := os.Stat(f[1]); err != nil {
				t.Errorf("docs/ARCHITECTURE.md maps %s, which does not exist", f[1])
			}
		}
	}
}
