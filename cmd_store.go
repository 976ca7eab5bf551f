package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg"
)

// openStore opens the configured store for the service: bbolt (the file is
// locked by this process) or PostgreSQL (pending migrations applied under
// an advisory lock).
func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if cfg.Store.Driver == "postgres" {
		return pg.Open(ctx, cfg.Store.DSN, pg.Options{})
	}
	return store.OpenBolt(cfg.Store.Path, store.Options{})
}

// openStoreReadOnly opens the configured store for an operator command:
// bbolt read-only (a store held by the service is reported, not waited
// for); PostgreSQL without migrating (the service may be running).
func openStoreReadOnly(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if cfg.Store.Driver == "postgres" {
		return pg.Open(ctx, cfg.Store.DSN, pg.Options{NoMigrate: true, MaxConns: 2})
	}
	return readStore(cfg.Store.Path)
}

// storeName is how logs and reports name the configured store.
func storeName(cfg *config.Config) string {
	if cfg.Store.Driver == "postgres" {
		return "postgres"
	}
	return cfg.Store.Path
}

func storeFlags(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*config.Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, exitError{2, err}
	}
	cfg, _, err := loadConfig(*cfgPath, getenv)
	return cfg, err
}

// runMigrate: openmoney migrate [-config FILE] — apply pending PostgreSQL schema migrations.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := storeFlags("migrate", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	if cfg.Store.Driver != "postgres" {
		return exitError{2, errors.New("migrate needs store.driver postgres (bbolt has no schema)")}
	}
	applied, err := pg.Migrate(ctx, cfg.Store.DSN)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "schema up to date")
	}
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	return nil
}

// runImport: openmoney import -from FILE [-config FILE] — copy a bbolt store
// (service stopped) into the configured, empty PostgreSQL store, then run
// the integrity check on both sides.
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var from string
	cfg, err := storeFlags("import", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "", "bbolt store file to import")
	})
	if err != nil {
		return err
	}
	if from == "" || cfg.Store.Driver != "postgres" {
		return exitError{2, errors.New("import needs -from FILE and store.driver postgres")}
	}
	src, err := readStore(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := pg.Open(ctx, cfg.Store.DSN, pg.Options{})
	if err != nil {
		return err
	}
	defer dst.Close()
	return copyAndCheck(ctx, src, dst, from, "postgres", stdout)
}

// runExport: openmoney export -to FILE [-config FILE] — copy the configured
// store into a new bbolt file, then run the integrity check on both sides.
func runExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var to string
	cfg, err := storeFlags("export", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "new bbolt store file to write")
	})
	if err != nil {
		return err
	}
	if to == "" {
		return exitError{2, errors.New("export needs -to FILE")}
	}
	if _, err := os.Stat(to); err == nil {
		return exitError{2, fmt.Errorf("export: %s exists; choose a new file", to)}
	}
	src, err := openStoreReadOnly(ctx, cfg)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := store.OpenBolt(to, store.Options{LockTimeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer dst.Close()
	return copyAndCheck(ctx, src, dst, storeName(cfg), to, stdout)
}

func copyAndCheck(ctx context.Context, src, dst store.Store, srcName, dstName string, stdout io.Writer) error {
	fmt.Fprintf(stdout, "copying %s → %s\n", srcName, dstName)
	if err := store.Copy(ctx, src, dst, stdout); err != nil {
		return err
	}
	var reps [2]shop.Report
	for i, st := range []store.Store{src, dst} {
		rep, err := shop.Check(ctx, st)
		if err != nil {
			return err
		}
		if len(rep.Violations) > 0 {
			return fmt.Errorf("integrity check of %s: %d violations:\n%s", []string{srcName, dstName}[i],
				len(rep.Violations), strings.Join(rep.Violations, "\n"))
		}
		rep.Violations = nil
		reps[i] = rep
	}
	if fmt.Sprint(reps[0]) != fmt.Sprint(reps[1]) {
		return fmt.Errorf("integrity check counts differ: %s %+v, %s %+v", srcName, reps[0], dstName, reps[1])
	}
	r := reps[1]
	fmt.Fprintf(stdout, "integrity check: OK on both sides (%d partners, %d orders, %d ledger rows, %d seen, %d unmatched)\n",
		r.Partners, r.Orders, r.LedgerRows, r.SeenTx, r.Unmatched)
	return nil
}
