package bot

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// FuzzUpdate feeds arbitrary JSON, decoded as a Telegram update, straight to
// the handler (without the per-update recover): whatever a user or a broken
// server sends, the handler must not panic. Seeds: testdata/fuzz/FuzzUpdate.
func FuzzUpdate(f *testing.F) {
	f.Add([]byte(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":7,"type":"private"},"from":{"id":7,"first_name":"F"},"text":"/stars pandus 100"}}`))
	env := shoptest.New(f, shoptest.Options{})
	tg := newFakeTG(f)
	b, err := New(Options{Token: fakeToken, APIURL: tg.srv.URL, Shop: env.Shop, PollTimeout: 2 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var upd models.Update
		if err := json.Unmarshal(data, &upd); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		chatKey(&upd)
		b.handle(ctx, &upd)
		tg.reset()
	})
}
