package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// chainCommand loads the config of a real network, derives the keys and dials.
func chainCommand(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*config.Config, *ton.Keys, ton.ChainAPI, error) {
	cfg, err := storeFlags(name, args, getenv, stderr, extra)
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg.Sandbox() {
		return nil, nil, nil, exitError{2, fmt.Errorf("%s needs ton.network testnet or mainnet (the sandbox chain has no liteservers)", name)}
	}
	keys, err := ton.NewKeys(splitSeed(cfg.TON.WalletSeed), cfg.TON.WalletVersion, cfg.TON.Network)
	if err != nil {
		return nil, nil, nil, exitError{2, fmt.Errorf("ton.wallet_seed: %w", err)}
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	api, err := ton.Dial(dctx, ton.DialConfig{Network: cfg.TON.Network, ConfigURL: cfg.TON.ConfigURL, TrustedBlock: cfg.TON.TrustedBlock})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to %s liteservers (check ton.config_url and the network): %w", cfg.TON.Network, err)
	}
	return cfg, keys, api, nil
}

// readStore opens the store read-only for an operator command; a store held
// by the running service is reported, not waited for.
func readStore(path string) (store.Store, error) {
	st, err := store.OpenBolt(path, store.Options{ReadOnly: true, LockTimeout: 2 * time.Second})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("the store %s is held by the running service; stop it first: %w", path, err)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

func runTonCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, keys, api, err := chainCommand(ctx, "ton-check", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	cursor := ""
	if st, err := openStoreReadOnly(ctx, cfg); err == nil {
		_ = st.View(ctx, func(tx store.Tx) error {
			if v, err := tx.GetMeta("chain_cursor"); err == nil {
				cursor = string(v)
			}
			return nil
		})
		st.Close()
	} else {
		fmt.Fprintf(stdout, "listener cursor: unknown (%v)\n", err)
	}
	return ton.TonCheck(ctx, api, keys, cursor, stdout)
}

func runSweep(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	dryRun := true
	var reserve int64
	cfg, keys, api, err := chainCommand(ctx, "sweep", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&dryRun, "dry-run", true, "only print what would move (-dry-run=false sends)")
		fs.Int64Var(&reserve, "reserve", ton.DefaultSweepReserveNano, "nanotons left on each top-up wallet")
	})
	if err != nil {
		return err
	}
	st, err := openStoreReadOnly(ctx, cfg)
	if err != nil {
		return err
	}
	// USDT: each partner's jetton wallet pinned for the configured master
	// (the shop pins them once from the proven chain).
	usdtMaster := ""
	if m := cfg.TON.Jettons.USDT.MasterOr(ton.DefaultUSDTMaster(cfg.TON.Network)); m != "" {
		if usdtMaster, err = ton.RawAddress(m); err != nil {
			return exitError{2, fmt.Errorf("ton.jettons.usdt.master: %w", err)}
		}
	}
	var wallets []ton.SweepWallet
	jettons := 0
	err = st.View(ctx, func(tx store.Tx) error {
		return store.EachPartner(tx, func(p *domain.Partner) error {
			w := ton.SweepWallet{SubwalletID: p.SubwalletID}
			if usdtMaster != "" && p.USDTWallet != "" && p.USDTMaster == usdtMaster {
				w.Jettons = []ton.JettonWallet{{Asset: ton.AssetUSDT, Master: usdtMaster, Owner: p.TopupAddressRaw, Wallet: p.USDTWallet}}
				jettons++
			}
			wallets = append(wallets, w)
			return nil
		})
	})
	st.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sweeping %d top-up wallets (%d with a USDT jetton wallet) to %s (dry run: %v)\n", len(wallets), jettons, keys.ServiceAddress(), dryRun)
	return ton.Sweep(ctx, api, keys, wallets, reserve, dryRun, stdout)
}
