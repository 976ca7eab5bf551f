package api

import (
	"net/http"

	"github.com/theopenmoney/openmoney/shop"
)

// WebhookView is the partner's webhook. Secret is present only in the
// answer that created the webhook or rotated its secret.
type WebhookView struct {
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    string   `json:"secret,omitempty"`
	CreatedAt string   `json:"created_at"`
	UpdatedAt string   `json:"updated_at"`
}

func webhookView(w *shop.Webhook) WebhookView {
	return WebhookView{URL: w.URL, Events: w.Events, Secret: w.Secret, CreatedAt: timeString(w.CreatedAt),
		UpdatedAt: timeString(w.UpdatedAt)}
}

// WebhookDeliveryView is one delivery attempt in GET /webhook/deliveries.
type WebhookDeliveryView struct {
	ID         int64   `json:"id"`
	EventID    string  `json:"event_id"`
	EventType  string  `json:"event_type"`
	Attempt    int     `json:"attempt"`
	Status     string  `json:"status"`      // delivered | retrying | failed
	StatusCode *int    `json:"status_code"` // the receiver's HTTP status; null when none arrived
	Error      *string `json:"error"`
	DurationMs int64   `json:"duration_ms"`
	CreatedAt  string  `json:"created_at"`
}

func webhookDeliveryView(d *shop.WebhookDelivery) WebhookDeliveryView {
	v := WebhookDeliveryView{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Attempt: d.Attempt,
		Status: d.Final, Error: strPtr(d.Error), DurationMs: d.DurationMs, CreatedAt: timeString(d.At)}
	if d.StatusCode != 0 {
		c := d.StatusCode
		v.StatusCode = &c
	}
	return v
}

// WebhookTestView is POST /webhook/test: the queued test event.
type WebhookTestView struct {
	EventID   string `json:"event_id"`
	Type      string `json:"type"`
	Status    string `json:"status"` // always "queued"
	CreatedAt string `json:"created_at"`
}

// WebhookDeletedView is DELETE /webhook.
type WebhookDeletedView struct {
	Deleted bool `json:"deleted"`
}

type webhookBody struct {
	URL *string `json:"url"`
	// Events: absent or null = all events.
	Events *[]string `json:"events"`
}

// handlePutWebhook is PUT /webhook {url, events?}.
func (srv *server) handlePutWebhook() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		var b webhookBody
		if err := decodeJSON(r, &b); err != nil {
			return nil, err
		}
		if b.URL == nil {
			return nil, invalid("url", "url is required")
		}
		var events []string
		if b.Events != nil {
			events = *b.Events
			if events == nil {
				events = []string{}
			}
		}
		w, err := srv.shop.SetWebhook(r.Context(), partnerID(r.Context()), *b.URL, events)
		if err != nil {
			return nil, err
		}
		return webhookView(w), nil
	})
}

// handleGetWebhook is GET /webhook (never the secret).
func (srv *server) handleGetWebhook() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		w, err := srv.shop.GetWebhook(r.Context(), partnerID(r.Context()))
		if err != nil {
			return nil, err
		}
		return webhookView(w), nil
	})
}

// handleDeleteWebhook is DELETE /webhook.
func (srv *server) handleDeleteWebhook() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		if err := srv.shop.DeleteWebhook(r.Context(), partnerID(r.Context())); err != nil {
			return nil, err
		}
		return WebhookDeletedView{Deleted: true}, nil
	})
}

// handleRotateWebhookSecret is POST /webhook/rotate-secret.
func (srv *server) handleRotateWebhookSecret() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		if err := decodeOptional(r, &struct{}{}); err != nil {
			return nil, err
		}
		w, err := srv.shop.RotateWebhookSecret(r.Context(), partnerID(r.Context()))
		if err != nil {
			return nil, err
		}
		return webhookView(w), nil
	})
}

// handleWebhookDeliveries is GET /webhook/deliveries?limit=&cursor=.
func (srv *server) handleWebhookDeliveries() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		limit, err := queryInt(r, "limit", 1, 100, 20)
		if err != nil {
			return nil, err
		}
		page, err := srv.shop.WebhookDeliveries(r.Context(), partnerID(r.Context()), r.URL.Query().Get("cursor"), int(limit))
		if err != nil {
			return nil, err
		}
		return listView(page.Items, page.NextCursor, webhookDeliveryView), nil
	})
}

// handleTestWebhook is POST /webhook/test: queues a webhook.test event.
func (srv *server) handleTestWebhook() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		if err := decodeOptional(r, &struct{}{}); err != nil {
			return nil, err
		}
		it, err := srv.shop.TestWebhook(r.Context(), partnerID(r.Context()))
		if err != nil {
			return nil, err
		}
		return WebhookTestView{EventID: shop.EventID(it), Type: it.Type, Status: "queued", CreatedAt: timeString(it.CreatedAt)}, nil
	})
}
