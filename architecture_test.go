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

// TestImportRules holds the packages to docs/ARCHITECTURE.md's rules: what
// each may not import (in non-test files).
func TestImportRules(t *testing.T) {
	const mod = "github.com/theopenmoney/openmoney/"
	forbidden := map[string][]string{
		"domain":   {""}, // nothing of the project
		"view":     {"shop", "api", "store"},
		"store":    {"shop", "ton", "api", "bot", "fulfil"},
		"store/pg": {"shop", "ton", "api", "bot", "fulfil"},
		"ton":      {"store", "shop"},
		"webhook":  {"api", "store"},
		"api":      {"store", "bot"},
		"bot":      {"store", "api"},
		"checkout": {"store", "api", "bot"},
		"shop":     {"api", "bot", "webhook", "checkout", "metrics"},
		// a directory's rule covers its own files only (the glob below),
		// so each fulfil package is named
		"fulfil":          {"store", "shop", "api", "bot"},
		"fulfil/fragment": {"store", "shop", "api", "bot"},
		"fulfil/manual":   {"store", "shop", "api", "bot"},
	}
	for dir, bad := range forbidden {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range regexp.MustCompile(`"`+regexp.QuoteMeta(mod)+`([a-z/]+)"`).FindAllStringSubmatch(string(src), -1) {
				for _, b := range bad {
					if b == "" || m[1] == b || strings.HasPrefix(m[1], b+"/") {
						t.Errorf("%s imports %s%s", f, mod, m[1])
					}
				}
			}
		}
	}
}
