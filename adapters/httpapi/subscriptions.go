package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

type createSubscriptionIn struct {
	ID              string                    `json:"id"`
	URL             string                    `json:"url"`
	EventTypes      []string                  `json:"event_types"`
	Description     string                    `json:"description"`
	Headers         map[string]string         `json:"headers"`
	SecretHeaders   []string                  `json:"secret_headers"`
	Secret          string                    `json:"secret"`
	Signing         string                    `json:"signing"`
	RateLimit       *domain.RateLimit         `json:"rate_limit"`
	Ordering        string                    `json:"ordering"`
	RetryScheduleMS []int64                   `json:"retry_schedule_ms"`
	Auth            *domain.EndpointAuth      `json:"auth"`
	ClientCert      *domain.ClientCertificate `json:"client_certificate"`
}

// checkTarget refuses an endpoint URL the sender could never reach (a host
// name IDNA does not allow, which the domain's own check, standard library
// only, cannot see) or, unless private targets are allowed, one whose host
// is a forbidden address.
func (s *Server) checkTarget(ctx context.Context, raw string) error {
	if err := domain.ValidateEndpointURL(raw); err != nil {
		return err
	}
	if u, err := url.Parse(raw); err == nil {
		if _, err := sender.ASCIIHost(u.Hostname()); err != nil {
			return &domain.ValidationError{Field: "url", Reason: err.Error()}
		}
	}
	if s.AllowPrivateTargets {
		return nil
	}
	return sender.CheckURL(ctx, raw, nil)
}

func (s *Server) createSubscription(c *gin.Context) {
	var in createSubscriptionIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	if in.ID == "" {
		in.ID = ids.New(domain.PrefixSubscription)
	}
	if err := newSigningSecret(&in.Secret, in.Signing); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.checkTarget(c.Request.Context(), in.URL); err != nil {
		s.fail(c, err)
		return
	}
	_, out, err := s.Commands.CreateSubscription(c.Request.Context(), domain.CreateSubscription{
		SubscriptionID: in.ID, ApplicationID: c.Param("app"), URL: in.URL, EventTypes: in.EventTypes,
		Description: in.Description, Headers: in.Headers, SecretHeaders: in.SecretHeaders, RetryScheduleMS: in.RetryScheduleMS, RateLimit: in.RateLimit, Ordering: in.Ordering, Auth: in.Auth, ClientCert: in.ClientCert, Secret: in.Secret,
	}, actor(c))
	if errors.Is(err, domain.ErrAlreadyExists) {
		// Subscription ids are unique across the ledger, not per application.
		// The answer is the same whether the id is the caller's or another
		// tenant's, and names neither the owner nor anything about it.
		s.fail(c, &badInput{status: http.StatusConflict, code: CodeIDUnavailable, field: "id",
			detail: "this id cannot be used: subscription ids are unique across the ledger; omit \"id\" to get a generated one"})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	o, ok := s.currentSubscription(c, in.ID)
	if !ok {
		return
	}
	o.showSecret(in.Secret)
	setETag(c, o.Revision)
	setLocation(c, "/v1/applications/"+o.ApplicationID+"/subscriptions/"+o.ID)
	c.JSON(http.StatusCreated, o)
}

// newSigningSecret checks or draws a subscription's secret for its signing
// scheme: "v1" (HMAC, whsec_, the default) or "ed25519" (whsk_).
func newSigningSecret(secret *string, signing string) error {
	switch signing {
	case "", domain.SigningHMAC, domain.SigningEd25519:
	default:
		return bad(CodeValidationFailed, "signing", `signing must be "v1" (HMAC-SHA256, the default) or "ed25519" (v1a signatures)`)
	}
	if *secret == "" {
		if signing == domain.SigningEd25519 {
			*secret, _ = ids.NewSigningKeyPair()
		} else {
			*secret = ids.NewSecret()
		}
		return nil
	}
	if signing != "" && domain.SchemeOf(*secret) != signing {
		return bad(CodeValidationFailed, "secret", "the secret's kind ("+domain.SchemeOf(*secret)+") is not the signing asked for ("+signing+"): whsec_ secrets sign v1, whsk_ keys ed25519")
	}
	return nil
}

func (s *Server) subscriptionView(app, id string) (projections.SubscriptionView, bool) {
	var sv projections.SubscriptionView
	ok := false
	s.Views.Read(func(v *projections.Views) {
		if p := v.Subscriptions[id]; p != nil && p.ApplicationID == app && p.Status != domain.StatusDeleted {
			sv, ok = *p, true
		}
	})
	return sv, ok
}

func (s *Server) listSubscriptions(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cursor, hasCursor, err := parseCursor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := c.Query("status")
	switch status {
	case "", "active", "paused", "disabled":
	default:
		s.fail(c, bad(CodeInvalidParameter, "status", "status must be active, paused or disabled"))
		return
	}
	out := page[subscriptionJSON]{Items: []subscriptionJSON{}}
	pos, at, asOf, err := parseAsOf(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var subs []projections.SubscriptionView
	s.Views.Read(func(v *projections.Views) {
		for _, sv := range v.SubscriptionsOf(c.Param("app")) {
			subs = append(subs, *sv)
		}
	})
	if asOf {
		p := asOfPoint{pos: pos, at: at}
		var then []projections.SubscriptionView
		var newest domain.Position
		for _, now := range subs {
			sv, ok, err := s.subscriptionAsOf(c.Request.Context(), now.ID, p)
			if err != nil {
				s.fail(c, err)
				return
			}
			if ok {
				then, newest = append(then, sv), max(newest, sv.Position)
			}
		}
		subs = then
		at, err := s.asOfPosition(c.Request.Context(), p, newest)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Header("X-As-Of-Position", strconv.FormatUint(uint64(at), 10))
	}
	for i := range subs {
		sv := &subs[i]
		if sv.Status == domain.StatusDeleted || (status != "" && string(sv.Status) != status) {
			continue
		}
		if hasCursor && uint64(sv.CreatedPosition) <= cursor {
			continue
		}
		if len(out.Items) == limit {
			out.NextCursor = encodeCursor(out.Items[len(out.Items)-1].createdPos)
			break
		}
		o := s.subOut(c, *sv)
		o.createdPos = uint64(sv.CreatedPosition)
		out.Items = append(out.Items, o)
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getSubscription(c *gin.Context) {
	id, err := pathID(c, "sub")
	if err != nil {
		s.fail(c, err)
		return
	}
	pos, at, asOf, err := parseAsOf(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if asOf {
		p := asOfPoint{pos: pos, at: at}
		sv, ok, err := s.subscriptionAsOf(c.Request.Context(), id, p)
		if err != nil {
			s.fail(c, err)
			return
		}
		if !ok || sv.ApplicationID != c.Param("app") {
			// A subscription the ledger has (deleted since, or not) was not
			// created yet: say so, rather than that there is none.
			var created time.Time
			s.Views.Read(func(v *projections.Views) {
				if sv := v.Subscriptions[id]; sv != nil && sv.ApplicationID == c.Param("app") {
					created = sv.CreatedAt
				}
			})
			if !created.IsZero() {
				s.fail(c, notFound("as_of", "subscription "+id+" did not exist yet at "+c.Query("as_of")+" (created "+created.UTC().Format(time.RFC3339Nano)+")"))
				return
			}
			s.fail(c, domain.ErrNotFound)
			return
		}
		at, err := s.asOfPosition(c.Request.Context(), p, sv.Position)
		if err != nil {
			s.fail(c, err)
			return
		}
		o := s.subOut(c, sv)
		o.AsOfPosition = uint64(at)
		c.Header("X-As-Of-Position", strconv.FormatUint(uint64(at), 10))
		c.JSON(http.StatusOK, o)
		return
	}
	o, ok := s.currentSubscription(c, id)
	if !ok {
		return
	}
	setETag(c, o.Revision)
	c.JSON(http.StatusOK, o)
}

type updateSubscriptionIn struct {
	URL             *string                   `json:"url"`
	EventTypes      []string                  `json:"event_types"`
	Description     *string                   `json:"description"`
	Headers         map[string]string         `json:"headers"`
	SecretHeaders   []string                  `json:"secret_headers"`
	RetryScheduleMS []int64                   `json:"retry_schedule_ms"`
	RateLimit       *domain.RateLimit         `json:"rate_limit"`
	Ordering        *string                   `json:"ordering"`
	Auth            *domain.EndpointAuth      `json:"auth"`
	ClientCert      *domain.ClientCertificate `json:"client_certificate"`
}

func (s *Server) updateSubscription(c *gin.Context) {
	var in updateSubscriptionIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	if in.URL != nil {
		if err := s.checkTarget(c.Request.Context(), *in.URL); err != nil {
			s.fail(c, err)
			return
		}
	}
	cmd := domain.UpdateSubscription{URL: in.URL, Description: in.Description, Headers: in.Headers, SecretHeaders: in.SecretHeaders, RetryScheduleMS: in.RetryScheduleMS, RateLimit: in.RateLimit, Ordering: in.Ordering, Auth: in.Auth, ClientCert: in.ClientCert}
	if in.EventTypes != nil {
		cmd.EventTypes = domain.Filters(in.EventTypes)
	}
	s.changeSubscription(c, cmd, http.StatusOK, "")
}

// timeRange is the body of the routes that act on a subscription's history
// between two times (recover, replay).
type timeRange struct {
	Since *time.Time `json:"since"`
	Until *time.Time `json:"until"`
}

// check requires since, and until (default now) not before it.
func (r timeRange) check() (since, until time.Time, err error) {
	if r.Since == nil {
		return since, until, bad(CodeValidationFailed, "since", "since is required (RFC 3339 time)")
	}
	until = time.Now().UTC()
	if r.Until == nil && until.Before(*r.Since) {
		// until was not given: the problem is since, not a field the client
		// never sent.
		return since, until, bad(CodeValidationFailed, "since", "since is in the future; nothing was recorded after it yet")
	}
	if r.Until != nil {
		until = *r.Until
	}
	if until.Before(*r.Since) {
		return since, until, bad(CodeValidationFailed, "until", "until is before since")
	}
	return *r.Since, until, nil
}

// ranged is a body holding a timeRange (recover, replay).
type ranged interface {
	check() (time.Time, time.Time, error)
}

// rangeRequest reads the subscription id from the path and a body holding a
// time range into in; on a bad request it has answered and ok is false.
func (s *Server) rangeRequest(c *gin.Context, in ranged) (id string, since, until time.Time, ok bool) {
	id, err := pathID(c, "sub")
	if err == nil {
		err = decodeJSON(c, smallBody, in)
	}
	if err == nil {
		since, until, err = in.check()
	}
	if err != nil {
		s.fail(c, err)
		return "", since, until, false
	}
	return id, since, until, true
}

type recoverIn struct{ timeRange }

// recoverSubscription re-schedules now the failed and exhausted deliveries of
// a subscription scheduled in [since, until].
func (s *Server) recoverSubscription(c *gin.Context) {
	var in recoverIn
	id, since, until, ok := s.rangeRequest(c, &in)
	if !ok {
		return
	}
	if _, ok := s.subscriptionView(c.Param("app"), id); !ok {
		s.fail(c, domain.ErrNotFound)
		return
	}
	type target struct{ delivery, message string }
	var targets []target
	s.Views.Read(func(v *projections.Views) {
		v.Records().DeliveriesOfSubscription(id, 0, func(d *projections.DeliveryView) bool {
			if d.ScheduledAt.Before(since.Add(-timeSlack)) {
				return false // newest first: everything further is older
			}
			if (d.Status == domain.DeliveryStatusFailed || d.Status == domain.DeliveryStatusExhausted) && !d.ScheduledAt.Before(since) && !d.ScheduledAt.After(until) {
				targets = append(targets, target{d.ID, d.MessageID})
			}
			return true
		})
		slices.Reverse(targets) // in scheduling order
	})
	md := actor(c)
	var last domain.Position
	n, erased := 0, 0
	for _, t := range targets {
		// A message whose payload was erased has nothing to send: its
		// delivery stays as it is (sent again, it would be cancelled).
		if e, err := s.payloadErasure(c.Request.Context(), t.message); err != nil {
			s.fail(c, err)
			return
		} else if e != nil {
			erased++
			continue
		}
		_, out, err := s.Commands.ChangeDelivery(c.Request.Context(), t.delivery, domain.RequestRedelivery{By: md.Actor, Reason: "subscription recovery"}, md)
		if errors.Is(err, domain.ErrConflict) {
			continue // an attempt is in flight right now: it is not lost
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		if len(out.Events) > 0 {
			n++
			last = out.Result.Position
		}
	}
	s.settle(c, last)
	c.JSON(http.StatusOK, gin.H{"recovered": n, "erased": erased})
}
