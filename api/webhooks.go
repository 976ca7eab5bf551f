package api

import (
	"net/http"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/view"
)

// WebhookView is the partner's webhook. Secret is present only in the
// answer that created the webhook or rotated its secret.
type WebhookView struct {
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    string   `json:"secret,omitempty"`
	CreatedAt string   `json:"created_at"`
	UpdatedAt string   `json:"updated_at"`
	// Status is "enabled", or "disabled" after days of failed deliveries
	// (DisabledAt, DisabledReason say when and why; PUT re-enables).
	Status         string  `json:"status"`
	DisabledAt     *string `json:"disabled_at"`
	DisabledReason *string `json:"disabled_reason"`
	// FailingSince is the first failed attempt of the current run of
	// failures; null while deliveries succeed.
	FailingSince *string `json:"failing_since"`
}

func webhookView(w *domain.Webhook) WebhookView {
	v := WebhookView{URL: w.URL, Events: w.Events, Secret: w.Secret, CreatedAt: view.Time(w.CreatedAt),
		UpdatedAt: view.Time(w.UpdatedAt), Status: "enabled", DisabledAt: view.TimePtr(w.DisabledAt),
		DisabledReason: view.StrPtr(w.DisabledReason), FailingSince: view.TimePtr(w.FailingSince)}
	if w.DisabledAt != nil {
		v.Status = "disabled"
	}
	return v
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
	// RedeliveryOf is the delivery id whose redelivery this attempt is;
	// null for the event's own attempts.
	RedeliveryOf *int64 `json:"redelivery_of"`
}

func webhookDeliveryView(d *domain.WebhookDelivery) WebhookDeliveryView {
	v := WebhookDeliveryView{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Attempt: d.Attempt,
		Status: d.Final, Error: view.StrPtr(d.Error), DurationMs: d.DurationMs, CreatedAt: view.Time(d.At)}
	if d.RedeliveryOf != 0 {
		id := d.RedeliveryOf
		v.RedeliveryOf = &id
	}
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

// webhookBody is PUT /webhook: a field absent (or null) keeps its value;
// on creation url is required and events default to all.
type webhookBody struct {
	URL    *string   `json:"url"`
	Events *[]string `json:"events"`
}

// handlePutWebhook is PUT /webhook {url?, events?}.
func (srv *server) handlePutWebhook() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		var b webhookBody
		if err := decodeJSON(r, &b); err != nil {
			return nil, err
		}
		up := shop.WebhookUpdate{URL: b.URL}
		if b.Events != nil {
			up.Events = *b.Events
			if up.Events == nil {
				up.Events = []string{}
			}
		}
		w, err := srv.shop.SetWebhook(r.Context(), partnerID(r.Context()), up)
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
		return WebhookTestView{EventID: shop.EventID(it), Type: it.Type, Status: "queued", CreatedAt: view.Time(it.CreatedAt)}, nil
	})
}

// handleRedeliverWebhook is POST /webhook/deliveries/{id}/redeliver.
func (srv *server) handleRedeliverWebhook() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		if err := decodeOptional(r, &struct{}{}); err != nil {
			return nil, err
		}
		id, err := adminID(r, "delivery")
		if err != nil {
			return nil, err
		}
		it, err := srv.shop.RedeliverWebhook(r.Context(), partnerID(r.Context()), id)
		if err != nil {
			return nil, err
		}
		return WebhookTestView{EventID: shop.EventID(it), Type: it.Type, Status: "queued", CreatedAt: view.Time(it.CreatedAt)}, nil
	})
}
