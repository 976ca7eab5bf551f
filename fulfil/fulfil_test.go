package fulfil_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/theopenmoney/openmoney/fulfil"
)

// Every failure code is a permanent failure with a stable code and one
// short sentence; FailureOf finds it through any wrapping.
func TestFailureCodes(t *testing.T) {
	code := regexp.MustCompile(`^[a-z][a-z_]*[a-z]$`)
	seen := map[string]bool{}
	for _, f := range fulfil.Failures() {
		if !code.MatchString(f.Code) || seen[f.Code] {
			t.Errorf("code %q: malformed or repeated", f.Code)
		}
		seen[f.Code] = true
		if f.Message == "" || len(f.Message) > 120 || strings.ContainsAny(f.Message, "\n\r\t") || !strings.HasSuffix(f.Message, ".") ||
			strings.Count(strings.TrimSuffix(f.Message, "."), ". ") > 0 {
			t.Errorf("%s: message %q is not one short sentence", f.Code, f.Message)
		}
		err := fmt.Errorf("provider: %w: details %s", f, "tx abc\nmore")
		if !errors.Is(err, fulfil.ErrPermanent) || errors.Is(err, fulfil.ErrUnavailable) {
			t.Errorf("%s: not a permanent failure", f.Code)
		}
		if got := fulfil.FailureOf(err); got != f || got.Reason() != f.Code+": "+f.Message {
			t.Errorf("%s: FailureOf gives %v", f.Code, got)
		}
	}
	if got := fulfil.FailureOf(fmt.Errorf("%w: something", fulfil.ErrPermanent)); got != fulfil.ErrDeliveryFailed {
		t.Errorf("a permanent failure without a code: %v", got)
	}
}

func TestSandboxFailIsCoded(t *testing.T) {
	_, err := fulfil.Sandbox{}.Deliver(context.Background(), fulfil.Request{Username: "pandus_FAIL"}, nil)
	if fulfil.FailureOf(err) != fulfil.ErrSandboxFailure || !errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("err %v", err)
	}
	if _, err := (fulfil.Sandbox{}).Deliver(context.Background(), fulfil.Request{Username: "pandus"}, nil); err != nil {
		t.Fatal(err)
	}
}
