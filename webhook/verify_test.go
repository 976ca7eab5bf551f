package webhook_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/theopenmoney/openmoney/webhook"
)

// goBlocks returns the ```go code blocks of a markdown file.
func goBlocks(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	rest := string(b)
	for {
		_, after, ok := strings.Cut(rest, "```go\n")
		if !ok {
			return out
		}
		block, tail, ok := strings.Cut(after, "```")
		if !ok {
			t.Fatalf("%s: unterminated code block", path)
		}
		out = append(out, block)
		rest = tail
	}
}

// The snippet partners copy from docs/WEBHOOKS.md is exactly the function
// the delivery tests verify signatures with.
func TestDocSnippetIsTheTestedVerifier(t *testing.T) {
	src, err := os.ReadFile("verify.go")
	if err != nil {
		t.Fatal(err)
	}
	const start = "// VerifySignature checks"
	i := strings.Index(string(src), start)
	if i < 0 {
		t.Fatal("verify.go: VerifySignature not found")
	}
	fn := string(src[i:])
	for _, doc := range []string{"../docs/WEBHOOKS.md", "../README.md"} {
		checkSnippet(t, doc, string(src), fn, start)
	}
}

func checkSnippet(t *testing.T, doc, src, fn, start string) {
	t.Helper()
	found := false
	for _, block := range goBlocks(t, doc) {
		if strings.HasPrefix(block, start) {
			found = true
			if block != fn {
				t.Fatalf("%s snippet differs from verify.go:\n--- docs\n%s\n--- verify.go\n%s", doc, block, fn)
			}
		}
		if strings.HasPrefix(block, "import (") {
			for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
				if !strings.Contains(src, line) {
					t.Errorf("docs import line %q not in verify.go", line)
				}
			}
		}
	}
	if !found {
		t.Fatalf("%s has no VerifySignature snippet", doc)
	}
}

func ExampleVerifySignature() {
	secret := "whsec_example"
	body := []byte(`{"id":"evt_1","type":"webhook.test","created_at":"2026-04-16T12:00:00Z","data":{"message":"hi"}}`)
	at := time.Date(2026, 4, 16, 12, 0, 0, 0, time.UTC)
	header := webhook.Sign(secret, at, body) // what the service sends
	fmt.Println(header)
	fmt.Println(webhook.VerifySignature(secret, header, body, at.Add(30*time.Second)))
	fmt.Println(webhook.VerifySignature(secret, header, append(body, ' '), at))
	// Output:
	// t=1776340800,v1=c9a216b8bc7c7c75ba9e90c1694ce525f85c334ba489a68b104aaea5bab85c40
	// <nil>
	// signature does not match
}

// The retry table of docs/WEBHOOKS.md is wait.Webhook.
func TestDocRetryTableIsTheSchedule(t *testing.T) {
	doc, err := os.ReadFile("../docs/WEBHOOKS.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "| next in |") {
			row = strings.TrimSpace(line)
		}
	}
	if row == "" {
		t.Fatal(`docs/WEBHOOKS.md has no "| next in |" row`)
	}
	cells := strings.Split(strings.Trim(row, "|"), "|")[1:]
	if len(cells) != len(wait.Webhook) {
		t.Fatalf("the docs list %d delays, the schedule has %d", len(cells), len(wait.Webhook))
	}
	for i, c := range cells {
		d, err := time.ParseDuration(strings.NewReplacer(" ", "", "min", "m").Replace(c))
		if err != nil || d != wait.Webhook[i] {
			t.Errorf("after attempt %d the docs say %q, the schedule %s", i+1, strings.TrimSpace(c), wait.Webhook[i])
		}
	}
}
