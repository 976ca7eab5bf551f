// Package bot is the Telegram front door of the shop: API keys (/api),
// ordering Stars and Premium in chat (/stars, /premium), /orders, /balance,
// and the notifications of the shop's durable outbox. It speaks the Bot API
// through github.com/go-telegram/bot (long polling) and calls shop only.
//
// Updates are handled one at a time per chat, in order, and concurrently
// across chats; a panic in a handler is recovered per update. Keys are shown
// only in private chats and never logged.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/theopenmoney/openmoney/shop"
)

// channelTelegram is the outbox channel this package sends (domain.ChannelTelegram).
const channelTelegram = domain.ChannelTelegram

// HealthComponent is the name under which the bot reports its health.
const HealthComponent = "telegram"

const (
	defaultPollTimeout = 50 * time.Second
	sendTimeout        = 30 * time.Second // one Bot API call other than getUpdates
	handleTimeout      = 2 * time.Minute  // one update, all its calls and retries
	maxSendAttempts    = 3                // replies retried after 429
	maxReplyWait       = 30 * time.Second // a reply waits at most this long for retry_after
	chatQueueLen       = 32               // pending updates per chat before dropping
	flowTTL            = 15 * time.Minute // guided-order state lifetime
	helloTimeout       = 15 * time.Second // getMe
)

// Options configure the bot.
type Options struct {
	// Token is the bot token from @BotFather (telegram.token or TELEGRAM_BOT_TOKEN). Required.
	Token string
	// APIURL is the Bot API server; empty means https://api.telegram.org
	// (telegram.api_url; a local Bot API server goes here).
	APIURL string
	// Shop is the business layer. Required.
	Shop *shop.Shop
	// Log receives the bot's logs; nil discards them.
	Log *slog.Logger
	// HTTPClient makes the Bot API calls; nil means a client whose timeout
	// exceeds PollTimeout. A client given here must not time out before
	// PollTimeout, or every long poll fails.
	HTTPClient *http.Client
	// PollTimeout is how long one getUpdates long poll may last (default
	// 50s; Telegram is asked to hold the request PollTimeout-1s).
	PollTimeout time.Duration
}

// Bot is the Telegram bot. Create it with New and start it with Run.
type Bot struct {
	shop  *shop.Shop
	log   *slog.Logger
	tg    *tgbot.Bot
	token string
	texts catalogue
	link  *link
	flows *flows

	username atomic.Pointer[string] // the bot's @username, known after getMe
	started  atomic.Bool

	qmu    sync.Mutex
	queues map[int64]chan *models.Update
	wg     sync.WaitGroup // per-chat workers
}

// New builds the bot without touching the network: a wrong token or an
// unreachable server shows up in Run (retried, reported by health), never
// here.
func New(opts Options) (*Bot, error) {
	if strings.TrimSpace(opts.Token) == "" {
		return nil, errors.New("bot: token is required")
	}
	if opts.Shop == nil {
		return nil, errors.New("bot: shop is required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	poll := opts.PollTimeout
	if poll <= 0 {
		poll = defaultPollTimeout
	}
	if poll < 2*time.Second {
		poll = 2 * time.Second // getUpdates timeout 1s: never a busy short-poll loop
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: poll + 15*time.Second}
	}
	b := &Bot{
		shop:   opts.Shop,
		log:    opts.Log.With("component", "telegram"),
		token:  opts.Token,
		texts:  newCatalogue(),
		link:   newLink(),
		flows:  newFlows(flowTTL),
		queues: map[int64]chan *models.Update{},
	}
	if client.Timeout > 0 && client.Timeout <= poll {
		b.log.Warn("the HTTP client times out before a long poll ends; polls will fail",
			"client_timeout", client.Timeout, "poll_timeout", poll)
	}
	tgOpts := []tgbot.Option{
		tgbot.WithSkipGetMe(), // Run says hello, with retries
		tgbot.WithHTTPClient(poll, &observedClient{inner: client, b: b}),
		tgbot.WithDefaultHandler(b.enqueue),
		tgbot.WithNotAsyncHandlers(), // enqueue is cheap; per-chat workers do the work
		tgbot.WithErrorsHandler(b.onLibraryError),
		tgbot.WithAllowedUpdates(tgbot.AllowedUpdates{models.AllowedUpdateMessage, models.AllowedUpdateCallbackQuery}),
	}
	if opts.APIURL != "" {
		u, err := url.Parse(opts.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("bot: api url %q must be an http(s) URL", opts.APIURL)
		}
		tgOpts = append(tgOpts, tgbot.WithServerURL(strings.TrimRight(opts.APIURL, "/")))
	}
	tg, err := tgbot.New(opts.Token, tgOpts...)
	if err != nil {
		return nil, fmt.Errorf("bot: %s", b.scrub(err))
	}
	b.tg = tg
	return b, nil
}

// Run registers the bot as the shop's telegram notifier and health
// component, then says hello (getMe) and long-polls for updates until ctx
// ends. It never fails because Telegram is unreachable or the token is
// refused: it retries with backoff and reports itself degraded meanwhile.
// It returns nil once ctx is done and every in-flight update is handled.
func (b *Bot) Run(ctx context.Context) error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("bot: Run called twice")
	}
	b.shop.RegisterNotifier(channelTelegram, b)
	b.shop.RegisterAlertSender(b)
	b.shop.RegisterHealth(HealthComponent, b.link.report)
	for attempt := 0; ; attempt++ {
		err := b.hello(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		delay := wait.BotStart.After(attempt + 1)
		b.log.Warn("cannot reach the Telegram Bot API; retrying", "err", b.scrub(err), "in", delay)
		if !wait.Sleep(ctx, delay) {
			return nil
		}
	}
	b.tg.Start(ctx) // blocks until ctx ends; getUpdates retries on its own
	b.wg.Wait()
	return nil
}

// hello checks the token with getMe and publishes the command menus.
func (b *Bot) hello(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	me, err := b.tg.GetMe(ctx)
	if err != nil {
		b.link.down("getMe", b.scrub(err), b.log)
		return err
	}
	name := me.Username
	b.username.Store(&name)
	b.link.up(name, b.log)
	for _, lang := range []string{"", langID} {
		l := lang
		if l == "" {
			l = langEN
		}
		_, err := b.tg.SetMyCommands(ctx, &tgbot.SetMyCommandsParams{Commands: b.commands(l), LanguageCode: lang})
		if err != nil {
			b.log.Debug("setMyCommands failed", "lang", l, "err", b.scrub(err))
		}
	}
	b.publishOperatorMenus(ctx)
	return nil
}

func (b *Bot) commands(lang string) []models.BotCommand {
	return menu(lang, []menuEntry{
		{"start", "What this bot does", "Apa yang dilakukan bot ini"},
		{"stars", "Buy Telegram Stars", "Beli Telegram Stars"},
		{"premium", "Buy Telegram Premium", "Beli Telegram Premium"},
		{"orders", "Recent orders", "Order terakhir"},
		{"balance", "Balance and top-up address", "Saldo dan alamat top-up"},
		{"api", "API key for partners", "Kunci API untuk mitra"},
	})
}

// menuEntry is a command of the menu with its English and Indonesian description.
type menuEntry struct{ command, en, id string }

func menu(lang string, entries []menuEntry) []models.BotCommand {
	out := make([]models.BotCommand, 0, len(entries))
	for _, e := range entries {
		d := e.en
		if lang == langID {
			d = e.id
		}
		out = append(out, models.BotCommand{Command: e.command, Description: d})
	}
	return out
}

// botUsername is the bot's @username ("" until getMe answered).
func (b *Bot) botUsername() string {
	if p := b.username.Load(); p != nil {
		return *p
	}
	return ""
}

// scrub renders err without the bot token.
func (b *Bot) scrub(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), b.token, "***")
}

// onLibraryError receives the library's errors (mostly failed polls, which
// the observed client already turned into health state).
func (b *Bot) onLibraryError(err error) {
	msg := b.scrub(err)
	if strings.Contains(msg, "error get updates") {
		b.log.Debug("getUpdates failed", "err", msg)
		return
	}
	b.log.Warn("telegram client error", "err", msg)
}

// enqueue is the library's handler: it hands the update to its chat's worker,
// so each chat is served in order and chats do not wait for each other.
func (b *Bot) enqueue(ctx context.Context, _ *tgbot.Bot, upd *models.Update) {
	key, ok := chatKey(upd)
	if !ok {
		return
	}
	b.qmu.Lock()
	defer b.qmu.Unlock()
	q, running := b.queues[key]
	if !running {
		q = make(chan *models.Update, chatQueueLen)
		b.queues[key] = q
		b.wg.Add(1)
		go b.work(ctx, key, q)
	}
	select {
	case q <- upd:
	default:
		b.log.Warn("chat is flooding; update dropped", "chat_id", key, "update_id", upd.ID)
	}
}

// work drains one chat's queue and exits when it is empty.
func (b *Bot) work(ctx context.Context, key int64, q chan *models.Update) {
	defer b.wg.Done()
	for {
		b.qmu.Lock()
		select {
		case upd := <-q:
			b.qmu.Unlock()
			b.safeHandle(ctx, upd)
		default:
			delete(b.queues, key)
			b.qmu.Unlock()
			return
		}
	}
}

// chatKey is the chat an update belongs to (for ordering).
func chatKey(upd *models.Update) (int64, bool) {
	switch {
	case upd == nil:
		return 0, false
	case upd.Message != nil:
		return upd.Message.Chat.ID, true
	case upd.CallbackQuery != nil:
		if m := upd.CallbackQuery.Message.Message; m != nil {
			return m.Chat.ID, true
		}
		return upd.CallbackQuery.From.ID, true
	}
	return 0, false
}

// safeHandle handles one update; whatever it contains, a panic stays here.
func (b *Bot) safeHandle(ctx context.Context, upd *models.Update) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("panic while handling an update", "update_id", upd.ID, "panic", fmt.Sprint(r),
				"stack", string(debug.Stack()))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	b.handle(ctx, upd)
}

// link tracks whether the Bot API answers (getMe, getUpdates) for health.
type link struct {
	mu       sync.Mutex
	ok       bool
	state    string // starting | ok | error
	lastErr  string
	since    time.Time
	username string
}

func newLink() *link { return &link{state: "starting", since: time.Now().UTC()} }

func (l *link) up(username string, log *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if username != "" {
		l.username = username
	}
	if !l.ok {
		log.Info("connected to the Telegram Bot API", "bot", l.username)
		l.ok, l.state, l.lastErr, l.since = true, "ok", "", time.Now().UTC()
	}
}

func (l *link) down(method, errText string, log *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ok || l.state == "starting" {
		log.Warn("Telegram Bot API unavailable", "method", method, "err", errText)
		l.since = time.Now().UTC()
	}
	l.ok, l.state, l.lastErr = false, "error", method+": "+errText
}

// report is the health check registered with the shop.
func (l *link) report() (bool, any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := map[string]any{"status": l.state, "since": l.since.Format(time.RFC3339)}
	if l.username != "" {
		d["bot"] = l.username
	}
	if l.lastErr != "" {
		d["last_error"] = l.lastErr
	}
	return l.ok, d
}

// observedClient watches getUpdates answers to keep link current (getMe is
// watched by hello).
type observedClient struct {
	inner tgbot.HttpClient
	b     *Bot
}

func (c *observedClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.inner.Do(req)
	method := path.Base(req.URL.Path)
	if method != "getUpdates" {
		return resp, err
	}
	switch {
	case err != nil && req.Context().Err() != nil:
		// shutting down or our own timeout: says nothing about Telegram
	case err != nil:
		c.b.link.down(method, c.b.scrub(err), c.b.log)
	case resp.StatusCode != http.StatusOK:
		c.b.link.down(method, "HTTP "+resp.Status, c.b.log)
	default:
		c.b.link.up("", c.b.log)
	}
	return resp, err
}
