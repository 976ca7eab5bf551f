package ton

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
)

// Public liteserver configs used when ton.config_url is empty.
const (
	MainnetConfigURL = "https://ton.org/global.config.json"
	TestnetConfigURL = "https://ton.org/testnet-global.config.json"
)

// configFetchTimeout bounds the download of the global config.
const configFetchTimeout = 30 * time.Second

// DefaultConfigURL returns the public global config of network ("" for the
// sandbox, which has no liteservers).
func DefaultConfigURL(network string) string {
	switch network {
	case NetworkMainnet:
		return MainnetConfigURL
	case NetworkTestnet:
		return TestnetConfigURL
	}
	return ""
}

// DialConfig says which liteservers to use and which block to trust.
type DialConfig struct {
	Network string
	// ConfigURL is an http(s) URL or a local file path of a liteserver
	// global config; empty means the network's public config.
	ConfigURL string
	// TrustedBlock (ton.trusted_block) is a masterchain block the operator
	// trusts, in lite-client's form "(-1,8000000000000000,SEQNO):ROOTHASH:FILEHASH"
	// (hashes in hex or base64); empty means the config's validator.init_block.
	TrustedBlock string
}

// Dial connects to the liteservers of cfg.Network and returns once at least
// one answers; the pool then reconnects dropped servers on its own, so a
// caller dials once and keeps the client.
//
// The client checks proofs with ProofCheckPolicySecure anchored at the
// trusted block (ton.trusted_block, else the config's validator.init_block):
// every masterchain head GetMasterchainInfo returns is accepted only with a
// verified chain of block links (validator signatures) from the trusted block,
// and the trusted block then moves up to it. Blocks below the head are
// reached by the listener through prev_ref links of hash-checked block data
// (see Listener); shard blocks, transactions and account states are Merkle-
// proven against those ids by the library. A proof chain whose links do not
// join up is refused before the library sees it (see guardClient). Errors
// from answers that failed a check wrap ErrUnproven. Timed-out queries and
// "not found" answers are retried on another liteserver.
func Dial(ctx context.Context, cfg DialConfig) (ChainAPI, error) {
	url := cfg.ConfigURL
	if url == "" {
		url = DefaultConfigURL(cfg.Network)
	}
	if url == "" {
		return nil, fmt.Errorf("ton: dial: no liteserver config for network %q", cfg.Network)
	}

	var (
		gc  *liteclient.GlobalConfig
		err error
	)
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
		// The library fetches with http.DefaultClient, which never times out.
		fetchCtx, cancel := context.WithTimeout(ctx, configFetchTimeout)
		gc, err = liteclient.GetConfigFromUrl(fetchCtx, url)
		cancel()
	} else {
		gc, err = liteclient.GetConfigFromFile(strings.TrimPrefix(url, "file://"))
	}
	if err != nil {
		return nil, fmt.Errorf("ton: dial: load config %s: %w", url, err)
	}
	trusted, err := trustedBlock(cfg.TrustedBlock, gc)
	if err != nil {
		return nil, fmt.Errorf("ton: dial: %w", err)
	}

	pool := liteclient.NewConnectionPool()
	if err := pool.AddConnectionsFromConfig(ctx, gc); err != nil {
		// Stop the pool so its reconnect goroutines do not outlive a failed dial.
		pool.Stop()
		return nil, fmt.Errorf("ton: dial: connect to liteservers of %s: %w", cfg.Network, err)
	}
	return newProvenClient(&guardClient{pool}, trusted), nil
}

// newProvenClient is the Secure client over lc, anchored at trusted.
func newProvenClient(lc tonapi.LiteClient, trusted *tonapi.BlockIDExt) *provenClient {
	client := tonapi.NewAPIClient(lc, tonapi.ProofCheckPolicySecure)
	client.SetTrustedBlock(trusted)
	return &provenClient{client.WithRetry()}
}

// trustedBlock is the operator's block, else the config's init block. A
// config without one is refused: trusting whatever block the first answer
// names would trust that liteserver.
func trustedBlock(operator string, gc *liteclient.GlobalConfig) (*tonapi.BlockIDExt, error) {
	if strings.TrimSpace(operator) != "" {
		b, err := ParseBlockID(operator)
		if err != nil {
			return nil, fmt.Errorf("ton.trusted_block: %w", err)
		}
		return b, nil
	}
	ib := tonapi.BlockIDExt(gc.Validator.InitBlock)
	if ib.Workchain != address.MasterchainID || len(ib.RootHash) != 32 || len(ib.FileHash) != 32 {
		return nil, errors.New("the liteserver config has no validator.init_block to anchor proofs at; set ton.trusted_block")
	}
	return &ib, nil
}

// ParseBlockID reads a masterchain block id in lite-client's form
// "(-1,8000000000000000,SEQNO):ROOTHASH:FILEHASH", hashes as 64 hex digits
// or base64.
func ParseBlockID(s string) (*tonapi.BlockIDExt, error) {
	s = strings.TrimSpace(s)
	const form = `want "(-1,8000000000000000,SEQNO):ROOTHASH:FILEHASH"`
	end := strings.IndexByte(s, ')')
	if !strings.HasPrefix(s, "(") || end < 0 {
		return nil, fmt.Errorf("bad block id %q: %s", s, form)
	}
	head := strings.Split(s[1:end], ",")
	hashes := strings.Split(strings.TrimPrefix(s[end+1:], ":"), ":")
	if len(head) != 3 || len(hashes) != 2 || !strings.HasPrefix(s[end+1:], ":") {
		return nil, fmt.Errorf("bad block id %q: %s", s, form)
	}
	wc, err := strconv.ParseInt(strings.TrimSpace(head[0]), 10, 32)
	if err != nil || wc != int64(address.MasterchainID) {
		return nil, fmt.Errorf("bad block id %q: the workchain must be -1 (a masterchain block)", s)
	}
	shard, err := strconv.ParseUint(strings.TrimSpace(head[1]), 16, 64)
	if err != nil || shard != 1<<63 {
		return nil, fmt.Errorf("bad block id %q: the shard must be 8000000000000000", s)
	}
	seqno, err := strconv.ParseUint(strings.TrimSpace(head[2]), 10, 32)
	if err != nil || seqno == 0 {
		return nil, fmt.Errorf("bad block id %q: seqno must be a positive number", s)
	}
	root, err := hash256(hashes[0])
	if err != nil {
		return nil, fmt.Errorf("bad block id %q: root hash: %w", s, err)
	}
	file, err := hash256(hashes[1])
	if err != nil {
		return nil, fmt.Errorf("bad block id %q: file hash: %w", s, err)
	}
	return &tonapi.BlockIDExt{Workchain: address.MasterchainID, Shard: int64(shard), SeqNo: uint32(seqno), RootHash: root, FileHash: file}, nil
}

func hash256(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("want 32 bytes as 64 hex digits or base64")
}

// FormatBlockID prints id the way ParseBlockID reads it.
func FormatBlockID(id *tonapi.BlockIDExt) string {
	return fmt.Sprintf("(%d,%016x,%d):%X:%X", id.Workchain, uint64(id.Shard), id.SeqNo, id.RootHash, id.FileHash)
}

// guardClient passes queries to the pool and refuses a block proof chain
// whose links do not join up. tonutils-go v1.12.0's VerifyProofChain checks
// each link's signatures or Merkle proof but takes a backward link's "from"
// block as given and moves to the part's "to" block after the steps without
// comparing it with the last step: an answer with no steps, or with a
// backward link starting at an invented block, would pass. Requiring every
// link to start where the previous one ended (the first at the part's
// "from", the last ending at its "to") closes both. Errors of the pool
// itself are marked as transport errors, so a failed check can be told from
// a network failure (checkAnswer).
type guardClient struct{ tonapi.LiteClient }

func (g *guardClient) QueryLiteserver(ctx context.Context, payload tl.Serializable, result tl.Serializable) error {
	if err := g.LiteClient.QueryLiteserver(ctx, payload, result); err != nil {
		return &transportError{err}
	}
	// Judge by the answer, not the query: through WaitForBlock the query
	// arrives here already serialised (tl.Raw).
	ptr, ok := result.(*tl.Serializable)
	if !ok || ptr == nil {
		return nil
	}
	part, ok := (*ptr).(tonapi.PartialBlockProof)
	if !ok {
		return nil // an LSError: the library handles it
	}
	if err := proofLinksJoin(part); err != nil {
		return &UnprovenError{Op: "block proof", Err: err}
	}
	return nil
}

// proofLinksJoin checks that part's steps form one chain from part.From to part.To.
func proofLinksJoin(part tonapi.PartialBlockProof) error {
	if part.From == nil || part.To == nil {
		return errors.New("proof without from/to block")
	}
	if len(part.Steps) == 0 {
		return fmt.Errorf("proof from block %d to %d has no links", part.From.SeqNo, part.To.SeqNo)
	}
	at := part.From
	for i, step := range part.Steps {
		var from, to *tonapi.BlockIDExt
		switch s := step.(type) {
		case tonapi.BlockLinkForward:
			from, to = s.From, s.To
		case tonapi.BlockLinkBackward:
			from, to = s.From, s.To
		default:
			return fmt.Errorf("proof link %d of unknown type %T", i, step)
		}
		if from == nil || to == nil || !from.Equals(at) {
			return fmt.Errorf("proof link %d does not start at block %d where the chain stands", i, at.SeqNo)
		}
		at = to
	}
	if !at.Equals(part.To) {
		return fmt.Errorf("proof links end at block %d, not at the claimed block %d", at.SeqNo, part.To.SeqNo)
	}
	return nil
}

// transportError marks an error of the connection pool (the query never got
// an answer); it unwraps to the pool's error, so the library's retry on
// timeouts still recognises it.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// checkAnswer marks err as ErrUnproven when it comes from an answer the
// client refused: any error that is neither a transport failure, nor the
// liteserver's own error or "not found", nor the context ending, nor the pool
// running out of servers, is the library rejecting what a liteserver sent
// (a hash, Merkle proof, signature or link that does not check, or an answer
// that does not parse).
func checkAnswer(op string, err error) error {
	if err == nil || errors.Is(err, ErrUnproven) {
		return err
	}
	var te *transportError
	var ls tonapi.LSError
	switch {
	case errors.As(err, &te), errors.As(err, &ls),
		errors.Is(err, tonapi.ErrBlockNotFound), errors.Is(err, tonapi.ErrNoTransactionsWereFound),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, liteclient.ErrNoActiveConnections), errors.Is(err, liteclient.ErrNoNodesLeft),
		errors.Is(err, liteclient.ErrADNLReqTimeout), errors.Is(err, liteclient.ErrStopped):
		return err
	}
	return &UnprovenError{Op: op, Err: err}
}

// provenClient is the library client whose chain methods mark refused
// answers with ErrUnproven (checkAnswer). It is still a full
// tonapi.APIClientWrapped for the Fragment payer.
type provenClient struct{ tonapi.APIClientWrapped }

var _ tonapi.APIClientWrapped = (*provenClient)(nil)

func (p *provenClient) WaitForBlock(seqno uint32) tonapi.APIClientWrapped {
	return &provenClient{p.APIClientWrapped.WaitForBlock(seqno)}
}

func (p *provenClient) GetMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error) {
	b, err := p.APIClientWrapped.GetMasterchainInfo(ctx)
	return b, checkAnswer("masterchain head", err)
}

func (p *provenClient) CurrentMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error) {
	b, err := p.APIClientWrapped.CurrentMasterchainInfo(ctx)
	return b, checkAnswer("masterchain head", err)
}

func (p *provenClient) LookupBlock(ctx context.Context, workchain int32, shard int64, seqno uint32) (*tonapi.BlockIDExt, error) {
	b, err := p.APIClientWrapped.LookupBlock(ctx, workchain, shard, seqno)
	return b, checkAnswer("lookup block", err)
}

func (p *provenClient) GetBlockData(ctx context.Context, block *tonapi.BlockIDExt) (*tlb.Block, error) {
	b, err := p.APIClientWrapped.GetBlockData(ctx, block)
	return b, checkAnswer("block data", err)
}

func (p *provenClient) GetBlockShardsInfo(ctx context.Context, master *tonapi.BlockIDExt) ([]*tonapi.BlockIDExt, error) {
	b, err := p.APIClientWrapped.GetBlockShardsInfo(ctx, master)
	return b, checkAnswer("shard tops", err)
}

func (p *provenClient) GetBlockTransactionsV2(ctx context.Context, block *tonapi.BlockIDExt, count uint32, after ...*tonapi.TransactionID3) ([]tonapi.TransactionShortInfo, bool, error) {
	ids, more, err := p.APIClientWrapped.GetBlockTransactionsV2(ctx, block, count, after...)
	return ids, more, checkAnswer("block transactions", err)
}

func (p *provenClient) GetTransaction(ctx context.Context, block *tonapi.BlockIDExt, addr *address.Address, lt uint64) (*tlb.Transaction, error) {
	tx, err := p.APIClientWrapped.GetTransaction(ctx, block, addr, lt)
	return tx, checkAnswer("transaction", err)
}

func (p *provenClient) ListTransactions(ctx context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error) {
	txs, err := p.APIClientWrapped.ListTransactions(ctx, addr, num, lt, txHash)
	return txs, checkAnswer("account history", err)
}

func (p *provenClient) GetAccount(ctx context.Context, block *tonapi.BlockIDExt, addr *address.Address) (*tlb.Account, error) {
	a, err := p.APIClientWrapped.GetAccount(ctx, block, addr)
	return a, checkAnswer("account state", err)
}
