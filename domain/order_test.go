package domain_test

import (
	"testing"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
)

// Failure reads back every failure_reason the shop writes: each code's
// Reason() and an operator's free-text one.
func TestOrderFailure(t *testing.T) {
	for _, f := range fulfil.Failures() {
		o := domain.Order{FailureReason: f.Reason()}
		if code, sentence := o.Failure(); code != f.Code || sentence != f.Message {
			t.Errorf("%q → %q, %q", f.Reason(), code, sentence)
		}
	}
	for reason, want := range map[string][2]string{
		"": {"", ""},
		"operator_failed: the user left: no reply": {"operator_failed", "the user left: no reply"},
		"Delivery failed.":                         {"", "Delivery failed."},
		"Not a code: a sentence":                   {"", "Not a code: a sentence"},
		": empty code":                             {"", ": empty code"},
	} {
		o := domain.Order{FailureReason: reason}
		if code, sentence := o.Failure(); code != want[0] || sentence != want[1] {
			t.Errorf("%q → %q, %q; want %q", reason, code, sentence, want)
		}
	}
}

// The answer replayed for an Idempotency-Key keeps what was set at
// creation, the return URL included.
func TestAsCreatedKeepsTheReturnURL(t *testing.T) {
	o := domain.Order{ID: 1, Status: domain.StatusCompleted, PaymentMethod: domain.MethodTonMemo,
		ClientReference: "r", ReturnURL: "https://shop.example/thanks"}
	if c := o.AsCreated(); c.ReturnURL != o.ReturnURL || c.ClientReference != "r" || c.Status != domain.StatusPendingPayment {
		t.Errorf("AsCreated %+v", c)
	}
}
