package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/theopenmoney/openmoney/ton"
)

// runWallet: openmoney wallet new — a fresh service wallet: its 24-word
// mnemonic and the service addresses it gives for both wallet versions on
// both networks. Nothing is stored or sent anywhere.
func runWallet(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		return exitError{2, errors.New("usage: openmoney wallet new")}
	}
	fs := flag.NewFlagSet("wallet new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return exitError{2, err}
	}
	if fs.NArg() > 0 {
		return exitError{2, fmt.Errorf("wallet new takes no arguments, got %q", fs.Arg(0))}
	}
	seed := ton.NewSeed()
	type row struct{ version, network, friendly, raw string }
	var rows []row
	for _, v := range []string{"v4r2", "v5r1"} {
		for _, n := range []string{ton.NetworkTestnet, ton.NetworkMainnet} {
			k, err := ton.NewKeys(seed, v, n)
			if err != nil {
				return fmt.Errorf("wallet new: %w", err)
			}
			rows = append(rows, row{v, n, k.ServiceAddress(), k.ServiceAddressRaw()})
		}
	}
	fmt.Fprint(stdout, `A new service wallet.

!! Write these 24 words on paper and keep them offline (a safe, not a file, a chat or a
!! password manager that syncs). Whoever has them controls the service wallet and every
!! partner top-up address derived from it. They are shown once and stored nowhere.

`)
	for i := range 6 {
		for j := range 4 {
			n := j*6 + i
			fmt.Fprintf(stdout, "  %2d %-12s", n+1, seed[n])
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "\nAs one line, for TON_WALLET_SEED (or ton.wallet_seed):\n  %s\n\n", strings.Join(seed, " "))
	fmt.Fprintln(stdout, "The service wallet (the payment address of ton_memo orders) for each ton.wallet_version:")
	for _, r := range rows {
		fmt.Fprintf(stdout, "  %-5s %-8s %s  (raw %s)\n", r.version, r.network, r.friendly, r.raw)
	}
	fmt.Fprint(stdout, `
v4r2 is the default (ton.wallet_version); v5r1 serves at most 32767 partners per seed. The same words
give different v5r1 addresses on testnet and mainnet; v4r2 addresses differ only in their form
(0Q… testnet, UQ… mainnet). Use a new seed for mainnet rather than the testnet one.
Next: fund the testnet address from a faucet and run openmoney ton-check (docs/DEPLOY.md).
`)
	return nil
}
