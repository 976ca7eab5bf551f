package ton

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tl"
	tonapi "github.com/xssnick/tonutils-go/ton"
)

// A liar's LookupBlock names an invented masterchain block (linked to the
// real chain, committing an invented shard block with a payment to us). The
// listener never scans a block it reached by LookupBlock: it walks prev_ref
// links from the proven head, so the invented payment is never credited and
// the real one in the real block of that seqno is.
func TestForgedLookupBlockCreditsNothing(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	cursor := f.cursorAt(c.mine())
	real := c.tx(txOpts{to: f.service, from: f.alice, nano: 5_000_000_000, body: commentCell("real")})
	seq := c.mine(real)
	forged := c.tx(txOpts{to: f.service, from: f.alice, nano: 900_000_000_000, body: commentCell("om-forged")})
	c.forge(seq, forged)
	c.mine()
	c.setLie(1, lieLookup) // node 1, where the listener starts, lies
	r := newRecorder()
	l := NewListener(f.options())
	run(t, l, cursor, r.fn)
	waitUntil(t, "the real payment", func() bool { return r.has(hashOf(real)) })
	next := c.tx(txOpts{to: f.service, from: f.alice, nano: 1, body: commentCell("next")})
	end := c.mine(next)
	waitUntil(t, "following on", func() bool { return r.lastCursor() == f.cursorAt(end) })
	if r.has(hashOf(forged)) {
		t.Fatal("a payment in a block known only from LookupBlock was credited")
	}
	if n := c.callCount("LookupBlock"); n != 0 {
		t.Errorf("LookupBlock called %d times; a scanned block must come from proven links", n)
	}
}

// A liar answers GetBlockData for a real masterchain id with its own block
// (whose prev_ref leads into its invented chain). The data does not hash to
// the id, tonutils-go's check refuses it, the listener counts the failure,
// shows it in Status (alert: /health degraded), credits nothing from that
// scan and asks the next liteserver, where the real payment is read.
func TestForgedBlockDataIsRefusedAndAnotherServerAsked(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	cursor := f.cursorAt(c.mine())
	real := c.tx(txOpts{to: f.service, from: f.alice, nano: 5_000_000_000, body: commentCell("real")})
	seq := c.mine(real)
	forged := c.tx(txOpts{to: f.service, from: f.alice, nano: 900_000_000_000, body: commentCell("om-forged")})
	c.forge(seq, forged)
	c.mine()
	c.setLie(1, lieBlockData)
	r := newRecorder()
	l := NewListener(f.options())
	run(t, l, cursor, r.fn)
	waitUntil(t, "the real payment, from another liteserver", func() bool { return r.has(hashOf(real)) })
	if r.has(hashOf(forged)) {
		t.Fatal("the forged payment was credited")
	}
	st := l.Status()
	if st.ProofFailures == 0 || !strings.Contains(st.LastProofFailure, "incorrect block") ||
		!strings.Contains(st.LastProofFailure, ErrUnproven.Error()) || !strings.Contains(st.Alert, "failed verification") {
		t.Errorf("the failure is not reported: %+v", st)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		for _, tr := range b.Transfers {
			if tr.AmountNano == 900_000_000_000 {
				t.Errorf("forged amount delivered in %s", b.Cursor)
			}
		}
	}
}

// A liar answers GetTransaction with another transaction than the proven
// block lists (here the same one with a bigger amount). It is refused and
// the real transaction is read from the next liteserver.
func TestTamperedTransactionIsRefused(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	cursor := f.cursorAt(c.mine())
	pay := c.tx(txOpts{to: f.service, from: f.alice, nano: 1_000_000_000, body: commentCell("pay")})
	c.mine(pay)
	c.setLie(1, lieTx)
	r := newRecorder()
	l := NewListener(f.options())
	run(t, l, cursor, r.fn)
	waitUntil(t, "the payment", func() bool { return r.has(hashOf(pay)) })
	if got := r.get(hashOf(pay)).AmountNano; got != 1_000_000_000 {
		t.Fatalf("credited %d nanotons, want the real 1e9", got)
	}
	if st := l.Status(); st.ProofFailures == 0 || !strings.Contains(st.LastProofFailure, "another transaction") {
		t.Errorf("not reported: %+v", st)
	}
}

// --- the masterchain head: tonutils-go's Secure policy under our guard ---

// scriptedLS is a liteserver at the TL level: it answers the masterchain head
// and block-proof queries from a script (the real APIClient does the rest).
// It may be asked and scripted from different goroutines (a running listener).
type scriptedLS struct {
	mu     sync.Mutex
	head   *tonapi.BlockIDExt
	proof  tonapi.PartialBlockProof
	proofs int
}

// answer makes the liteserver answer head, and proof when a proof is asked.
func (s *scriptedLS) answer(head *tonapi.BlockIDExt, proof tonapi.PartialBlockProof) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.head, s.proof = head, proof
}

// proofsAsked is how many proofs were asked.
func (s *scriptedLS) proofsAsked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proofs
}

func (s *scriptedLS) QueryLiteserver(_ context.Context, payload tl.Serializable, result tl.Serializable) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := result.(*tl.Serializable)
	if _, ok := payload.(tl.Raw); ok { // a serialised query (WaitForBlock): answer the proof
		s.proofs++
		*out = s.proof
		return nil
	}
	switch payload.(type) {
	case tonapi.GetMasterchainInf:
		*out = tonapi.MasterchainInfo{Last: s.head, StateRootHash: make([]byte, 32),
			Init: &tonapi.ZeroStateIDExt{Workchain: -1, RootHash: make([]byte, 32), FileHash: make([]byte, 32)}}
	case tonapi.GetBlockProof:
		s.proofs++
		*out = s.proof
	default:
		*out = tonapi.LSError{Code: 651, Text: "not scripted"}
	}
	return nil
}
func (s *scriptedLS) StickyContext(ctx context.Context) context.Context { return ctx }
func (s *scriptedLS) StickyContextNextNode(ctx context.Context) (context.Context, error) {
	return ctx, liteclient.ErrNoNodesLeft
}
func (s *scriptedLS) StickyContextNextNodeBalanced(ctx context.Context) (context.Context, error) {
	return ctx, liteclient.ErrNoNodesLeft
}
func (s *scriptedLS) StickyNodeID(context.Context) uint32 { return 1 }

func mcID(seqno uint32, tag byte) *tonapi.BlockIDExt {
	h := func(k byte) []byte { b := make([]byte, 32); b[0], b[1] = tag, k; return b }
	return &tonapi.BlockIDExt{Workchain: address.MasterchainID, Shard: -1 << 63, SeqNo: seqno, RootHash: h(1), FileHash: h(2)}
}

// A liteserver claims a far newer head with a "proof" that has no links.
// tonutils-go v1.12.0's VerifyProofChain accepts that on its own (it moves
// to the part's "to" block without checking the steps led there); through
// our guard the head is refused as ErrUnproven and the trusted block stays.
func TestForgedHeadWithEmptyProofIsRefused(t *testing.T) {
	trusted, forged := mcID(1000, 'T'), mcID(5000, 'F')
	empty := tonapi.PartialBlockProof{Complete: true, From: trusted, To: forged}

	bare := tonapi.NewAPIClient(&scriptedLS{head: forged, proof: empty}, tonapi.ProofCheckPolicySecure)
	bare.SetTrustedBlock(trusted)
	if got, err := bare.GetMasterchainInfo(context.Background()); err != nil || !got.Equals(forged) {
		t.Logf("tonutils-go itself now refuses an empty proof (%v); the guard stays as a second check", err)
	} else {
		t.Logf("tonutils-go alone accepted the forged head %d with an empty proof; the guard is what refuses it", got.SeqNo)
	}

	ls := &scriptedLS{head: forged, proof: empty}
	client := newProvenClient(&guardClient{ls}, trusted)
	got, err := client.GetMasterchainInfo(context.Background())
	if !errors.Is(err, ErrUnproven) || got != nil {
		t.Fatalf("forged head: %v, %v; want ErrUnproven", got, err)
	}
	if ls.proofsAsked() == 0 {
		t.Fatal("no proof was asked")
	}
	// The listener long-polls the head through WaitForBlock, whose queries
	// reach the guard already serialised (tl.Raw): the guard judges by the
	// answer, so a raw query answered with a broken proof is refused too.
	// (Called directly: tonutils' TL serialiser of the empty head query trips
	// -race's checkptr inside the library.)
	var res tl.Serializable
	if err := (&guardClient{ls}).QueryLiteserver(context.Background(), tl.Raw{0xde, 0xad}, &res); !errors.Is(err, ErrUnproven) || !strings.Contains(err.Error(), "no links") {
		t.Fatalf("broken proof answering a raw query: %v; want ErrUnproven", err)
	}
	// An honest head equal to the trusted block needs no links.
	ls.answer(trusted, empty)
	if got, err := client.GetMasterchainInfo(context.Background()); err != nil || !got.Equals(trusted) {
		t.Fatalf("trusted head: %v, %v", got, err)
	}
}

func TestProofLinksJoin(t *testing.T) {
	a, b, c, x := mcID(10, 'a'), mcID(20, 'b'), mcID(30, 'c'), mcID(25, 'x')
	fwd := func(from, to *tonapi.BlockIDExt) any { return tonapi.BlockLinkForward{From: from, To: to} }
	bwd := func(from, to *tonapi.BlockIDExt) any { return tonapi.BlockLinkBackward{From: from, To: to} }
	for _, tc := range []struct {
		name string
		part tonapi.PartialBlockProof
		ok   bool
	}{
		{"forward links a→b→c", tonapi.PartialBlockProof{From: a, To: c, Steps: []any{fwd(a, b), fwd(b, c)}}, true},
		{"back to a key block, then forward", tonapi.PartialBlockProof{From: b, To: c, Steps: []any{bwd(b, a), fwd(a, c)}}, true},
		{"no links", tonapi.PartialBlockProof{From: a, To: c}, false},
		{"backward link from an invented block", tonapi.PartialBlockProof{From: a, To: c, Steps: []any{bwd(x, b), fwd(b, c)}}, false},
		{"links end elsewhere than claimed", tonapi.PartialBlockProof{From: a, To: c, Steps: []any{fwd(a, b)}}, false},
		{"gap between links", tonapi.PartialBlockProof{From: a, To: c, Steps: []any{fwd(a, b), fwd(x, c)}}, false},
		{"first link not from the known block", tonapi.PartialBlockProof{From: a, To: c, Steps: []any{fwd(b, c)}}, false},
	} {
		if err := proofLinksJoin(tc.part); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// checkAnswer marks refused answers and nothing else.
func TestCheckAnswerClassifies(t *testing.T) {
	id := mcID(7, 'k')
	// block data that does not hash to the id: the library's own refusal
	c := newFakeChain(t)
	b := c.blocks[blockKey(c.masters[0].id.Workchain, c.masters[0].id.Shard, c.masters[0].id.SeqNo)]
	_, err := tonapi.NewAPIClient(cannedLS{tonapi.BlockData{ID: id, Payload: b.boc}}, tonapi.ProofCheckPolicySecure).GetBlockData(context.Background(), id)
	if err == nil {
		t.Fatal("block data under another id accepted")
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"hash mismatch", err, true},
		{"our own check", unproven("x", "y"), true},
		{"transport", &transportError{errors.New("connection reset")}, false},
		{"timeout", &transportError{liteclient.ErrADNLReqTimeout}, false},
		{"liteserver error", tonapi.LSError{Code: 651, Text: "not found"}, false},
		{"not found", tonapi.ErrBlockNotFound, false},
		{"no transactions", tonapi.ErrNoTransactionsWereFound, false},
		{"context", context.DeadlineExceeded, false},
		{"no nodes", liteclient.ErrNoNodesLeft, false},
	} {
		if got := errors.Is(checkAnswer("op", tc.err), ErrUnproven); got != tc.want {
			t.Errorf("%s: unproven=%v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseBlockID(t *testing.T) {
	root, file := strings.Repeat("AB", 32), strings.Repeat("cd", 32)
	id, err := ParseBlockID("(-1,8000000000000000,47512345):" + root + ":" + file)
	if err != nil || id.SeqNo != 47512345 || uint64(id.Shard) != 1<<63 || id.Workchain != -1 || id.RootHash[0] != 0xab || id.FileHash[0] != 0xcd {
		t.Fatalf("%+v, %v", id, err)
	}
	if back, err := ParseBlockID(FormatBlockID(id)); err != nil || !back.Equals(id) {
		t.Fatalf("round trip: %v %v", back, err)
	}
	b64 := "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="
	if id, err := ParseBlockID("(-1,8000000000000000,5):" + b64 + ":" + b64); err != nil || id.RootHash[0] != 0xab {
		t.Fatalf("base64: %v %v", id, err)
	}
	for _, bad := range []string{"", "latest", "(0,8000000000000000,5):" + root + ":" + file, "(-1,4000000000000000,5):" + root + ":" + file,
		"(-1,8000000000000000,0):" + root + ":" + file, "(-1,8000000000000000,5):" + root, "(-1,8000000000000000,5):abc:" + file} {
		if _, err := ParseBlockID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
