package shop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// JettonResolver finds owner's jetton wallet of master (raw addresses):
// ton.ResolveJettonWallet over the proven chain, ton.SandboxJettonWallet in
// the sandbox.
type JettonResolver interface {
	JettonWallet(ctx context.Context, master, owner string) (string, error)
}

// SandboxJettons is the sandbox chain's JettonResolver.
type SandboxJettons struct{}

// JettonWallet implements JettonResolver.
func (SandboxJettons) JettonWallet(_ context.Context, master, owner string) (string, error) {
	return ton.SandboxJettonWallet(master, owner)
}

// jettonWatcher is implemented by chain sources that follow our jetton
// wallets (the real listener).
type jettonWatcher interface{ WatchJettons(ws ...ton.JettonWallet) }

// usdtState is the USDT set-up: on when ton.jettons.usdt.master is not
// empty.
type usdtState struct {
	on       bool
	master   string // raw
	link     string // user-friendly bounceable form, for payment links
	usd      *big.Rat
	usdText  string
	resolver JettonResolver
	kick     chan struct{} // wakes the pin loop (a new partner)
}

func newUSDT(d Deps) (usdtState, error) {
	u := usdtState{kick: make(chan struct{}, 1), resolver: d.Jettons}
	master := d.Config.TON.Jettons.USDT.MasterOr(ton.DefaultUSDTMaster(d.Config.TON.Network))
	if master == "" {
		return u, nil
	}
	a, err := ton.ParseAddress(master)
	if err != nil {
		return u, fmt.Errorf("shop: ton.jettons.usdt.master: %w", err)
	}
	u.on, u.master = true, a.StringRaw()
	l := a.Copy()
	l.SetBounce(true)
	l.SetTestnetOnly(d.Config.TON.Network != ton.NetworkMainnet)
	u.link = l.String()
	u.usd = d.Config.Pricing.USDTUSD.Rat()
	if u.usd.Sign() <= 0 {
		u.usd = big.NewRat(1, 1)
	}
	u.usdText = money.Decimal(u.usd)
	if u.resolver == nil && d.Sandbox != nil {
		u.resolver = SandboxJettons{}
	}
	return u, nil
}

// USDTEnabled reports whether orders and top-ups may be paid in USDT.
func (s *Shop) USDTEnabled() bool { return s.usdt.on }

// USDTMaster is the USDT jetton master (user-friendly form; "" when off).
func (s *Shop) USDTMaster() string { return s.usdt.link }

// Currencies lists the accepted payment currencies.
func (s *Shop) Currencies() []domain.Currency {
	if s.usdt.on {
		return []domain.Currency{domain.CurrencyTON, domain.CurrencyUSDT}
	}
	return []domain.Currency{domain.CurrencyTON}
}

// --- amounts by currency ---

// balanceIn is p's balance in cur (nanotons or USDT units).
func balanceIn(p *domain.Partner, cur domain.Currency) int64 {
	if cur == domain.CurrencyUSDT {
		return p.BalanceUSDT
	}
	return p.BalanceNano
}

func setBalanceIn(p *domain.Partner, cur domain.Currency, v int64) {
	if cur == domain.CurrencyUSDT {
		p.BalanceUSDT = v
	} else {
		p.BalanceNano = v
	}
}

// ParkedAmount is a parked transfer's currency and amount (a jetton
// transfer's USDT units, else its nanotons).
func ParkedAmount(p *domain.Parked) (domain.Currency, int64) {
	if t := parkedTransfer(p); t.Jetton != nil {
		return domain.CurrencyUSDT, t.Jetton.Units
	}
	return domain.CurrencyTON, p.AmountNano
}

// unmatchedMinUSDT: unmatched USDT deposits below 0.01 USDT raise no alert
// (comment spam), like those below telegram.alerts.unmatched_min_ton.
const unmatchedMinUSDT = 10_000

// smallDeposit reports whether an unmatched deposit is below the alert
// floor of its currency.
func smallDeposit(u *domain.Unmatched, tonFloor int64) bool {
	if cur, amount := u.Amount(); cur == domain.CurrencyUSDT {
		return amount < unmatchedMinUSDT
	}
	return u.AmountNano < tonFloor
}

// FormatAmount renders an amount with its currency: "1.5 TON", "2 USDT".
func FormatAmount(currency domain.Currency, amount int64) string {
	return money.Format(string(currency), amount) + " " + string(currency)
}

// transferValue is what a transfer brings in: TON and its nanotons, or USDT
// and its units. ok is false for jettons that are not our configured USDT
// (the listener reports only our own jetton wallets of the configured
// master, so this is a second lock on the same door).
func (s *Shop) transferValue(t ton.Transfer) (cur domain.Currency, amount int64, ok bool) {
	if t.Jetton == nil {
		return domain.CurrencyTON, t.AmountNano, true
	}
	j := t.Jetton
	if !s.usdt.on || j.Asset != ton.AssetUSDT {
		return domain.CurrencyUSDT, j.Units, false
	}
	if m, err := ton.RawAddress(j.Master); err != nil || m != s.usdt.master {
		return domain.CurrencyUSDT, j.Units, false
	}
	return domain.CurrencyUSDT, j.Units, true
}

// USDTPrice converts an exact USD price to USDT units at usdtUSD (USD per
// USDT), rounded up to a whole unit.
func USDTPrice(usd, usdtUSD *big.Rat) (int64, error) {
	if usdtUSD.Sign() <= 0 {
		return 0, errors.New("shop: non-positive USDT rate")
	}
	return ceilUnits(new(big.Rat).Quo(usd, usdtUSD), money.UnitsPerUSDT)
}

// ceilUnits is v × perUnit rounded up, as an int64.
func ceilUnits(v *big.Rat, perUnit int64) (int64, error) {
	n := new(big.Rat).Mul(v, big.NewRat(perUnit, 1))
	q, r := new(big.Int).QuoRem(n.Num(), n.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, errors.New("shop: price overflows int64")
	}
	return q.Int64(), nil
}

// --- our jetton wallets ---

// serviceJettonKey is the store meta record of the service wallet's pinned
// USDT jetton wallet.
const serviceJettonKey = "usdt_wallet"

// jettonPin is a pinned jetton wallet and the master it belongs to.
type jettonPin struct {
	Master string `json:"master"`
	Wallet string `json:"wallet"`
}

// jettonLoop pins the USDT jetton wallets of the service wallet and of every
// partner's top-up address (once each, in the store) and has the listener
// watch them. A partner created since is picked up when kicked; wallets
// that could not be resolved are tried again a minute later.
func (s *Shop) jettonLoop(ctx context.Context) {
	if !s.usdt.on {
		return
	}
	if s.usdt.resolver == nil {
		s.log.Error("USDT is on but no jetton wallet resolver is wired: no USDT payment can be seen")
		return
	}
	var after int64 // partners up to this id are pinned and watched
	serviceDone := false
	for attempt := 0; ctx.Err() == nil; {
		failed := false
		if !serviceDone {
			if err := s.pinService(ctx); err != nil {
				failed = true
				s.log.Error("cannot find the service wallet's USDT jetton wallet; USDT payments wait for it", "err", err)
			} else {
				serviceDone = true
			}
		}
		next, err := s.pinPartners(ctx, after)
		after = next
		if err != nil {
			failed = true
			s.log.Error("cannot find a top-up address's USDT jetton wallet; retrying", "err", err, "partner_after", after)
		}
		d := time.Minute
		if failed {
			attempt++
			d = wait.JettonPin.After(attempt)
		} else {
			attempt = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-s.usdt.kick:
		case <-time.After(d):
		}
	}
}

func (s *Shop) kickJettons() {
	select {
	case s.usdt.kick <- struct{}{}:
	default:
	}
}

func (s *Shop) watchJetton(owner, wallet string) {
	if w, ok := s.chain.(jettonWatcher); ok {
		w.WatchJettons(ton.JettonWallet{Asset: ton.AssetUSDT, Master: s.usdt.master, Owner: owner, Wallet: wallet})
	}
}

func (s *Shop) pinService(ctx context.Context) error {
	var pin jettonPin
	err := s.st.View(ctx, func(tx store.Tx) error {
		v, err := tx.GetMeta(serviceJettonKey)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(v, &pin)
	})
	if err != nil {
		return err
	}
	if pin.Master != s.usdt.master || pin.Wallet == "" {
		w, err := s.usdt.resolver.JettonWallet(ctx, s.usdt.master, s.serviceRaw)
		if err != nil {
			return err
		}
		pin = jettonPin{Master: s.usdt.master, Wallet: w}
		data, _ := json.Marshal(pin)
		if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.PutMeta(serviceJettonKey, data) }); err != nil {
			return err
		}
		s.log.Info("service wallet's USDT jetton wallet pinned", "master", s.usdt.master, "wallet", w)
	}
	s.watchJetton(s.serviceRaw, pin.Wallet)
	return nil
}

// pinPartners pins and watches the partners with id > after; it returns
// the id up to which every partner is done (it stops at the first failure).
func (s *Shop) pinPartners(ctx context.Context, after int64) (int64, error) {
	for {
		var ps []domain.Partner
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			ps, err = tx.ListPartners(after, 200)
			return err
		})
		if err != nil || len(ps) == 0 {
			return after, err
		}
		for i := range ps {
			p := &ps[i]
			if p.TopupAddressRaw == "" {
				after = p.ID
				continue
			}
			wallet := p.USDTWallet
			if p.USDTMaster != s.usdt.master || wallet == "" {
				w, err := s.usdt.resolver.JettonWallet(ctx, s.usdt.master, p.TopupAddressRaw)
				if err != nil {
					return after, fmt.Errorf("partner %d: %w", p.ID, err)
				}
				err = s.st.Update(ctx, func(tx store.Tx) error {
					cur, err := tx.GetPartner(p.ID)
					if err != nil {
						return err
					}
					cur.USDTMaster, cur.USDTWallet = s.usdt.master, w
					return tx.PutPartner(cur)
				})
				if err != nil {
					return after, fmt.Errorf("partner %d: pin: %w", p.ID, err)
				}
				wallet = w
			}
			s.watchJetton(p.TopupAddressRaw, wallet)
			after = p.ID
		}
	}
}
