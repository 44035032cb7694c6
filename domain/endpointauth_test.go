package domain_test

import (
	"testing"

	"github.com/hookledger/hookledger/domain"
)

// TestEndpointAuth: basic and bearer credentials are recorded as the
// Authorization header (what is sent, and always redacted when shown), an
// update replaces or removes it while keeping the other headers, and a
// request may not give both auth and an Authorization header.
func TestEndpointAuth(t *testing.T) {
	create := domain.CreateSubscription{SubscriptionID: "sub_1", ApplicationID: "app_1", URL: "https://example.com/hook",
		EventTypes: domain.Filters{"order.*"}, Secret: secretA, Headers: map[string]string{"X-Tenant": "t1"}}
	withAuth := func(a domain.EndpointAuth) domain.CreateSubscription {
		c := create
		c.Auth = &a
		return c
	}
	created := subCreated()
	created.Headers = map[string]string{"X-Tenant": "t1", "Authorization": "Basic YWxpY2U6czNjcmV0"} // alice:s3cret
	updated := func(h map[string]string) domain.SubscriptionUpdated {
		return domain.SubscriptionUpdated{SubscriptionID: "sub_1", URL: created.URL, EventTypes: created.EventTypes, Headers: h, UpdatedAt: t0}
	}
	run(t, []scenario{
		{name: "basic", when: withAuth(domain.EndpointAuth{Type: "basic", Username: "alice", Password: "s3cret"}), then: []domain.Event{created}},
		{name: "bearer", when: withAuth(domain.EndpointAuth{Type: "bearer", Token: "tok_123"}), then: []domain.Event{func() domain.Event {
			e := subCreated()
			e.Headers = map[string]string{"X-Tenant": "t1", "Authorization": "Bearer tok_123"}
			return e
		}()}},
		{name: "basic without a username", when: withAuth(domain.EndpointAuth{Type: "basic", Password: "p"}), err: domain.ErrInvalidArgument},
		{name: "username with a colon", when: withAuth(domain.EndpointAuth{Type: "basic", Username: "a:b"}), err: domain.ErrInvalidArgument},
		{name: "bearer with a space", when: withAuth(domain.EndpointAuth{Type: "bearer", Token: "a b"}), err: domain.ErrInvalidArgument},
		{name: "bearer with a line break", when: withAuth(domain.EndpointAuth{Type: "bearer", Token: "a\r\nX-Evil:1"}), err: domain.ErrInvalidArgument},
		{name: "unknown type", when: withAuth(domain.EndpointAuth{Type: "digest"}), err: domain.ErrInvalidArgument},
		{name: "none at creation", when: withAuth(domain.EndpointAuth{Type: "none"}), err: domain.ErrInvalidArgument},
		{name: "auth and an Authorization header", when: func() domain.CreateSubscription {
			c := withAuth(domain.EndpointAuth{Type: "bearer", Token: "t"})
			c.Headers = map[string]string{"authorization": "Bearer x"}
			return c
		}(), err: domain.ErrInvalidArgument},
		{name: "update replaces the credential, keeps the headers", given: []domain.Event{created},
			when: domain.UpdateSubscription{Auth: &domain.EndpointAuth{Type: "bearer", Token: "new"}},
			then: []domain.Event{updated(map[string]string{"X-Tenant": "t1", "Authorization": "Bearer new"})}},
		{name: "update removes the credential", given: []domain.Event{created},
			when: domain.UpdateSubscription{Auth: &domain.EndpointAuth{Type: "none"}},
			then: []domain.Event{updated(map[string]string{"X-Tenant": "t1"})}},
		{name: "update with new headers and auth", given: []domain.Event{created},
			when: domain.UpdateSubscription{Headers: map[string]string{"X-Other": "o"}, Auth: &domain.EndpointAuth{Type: "basic", Username: "bob"}},
			then: []domain.Event{updated(map[string]string{"X-Other": "o", "Authorization": "Basic Ym9iOg=="})}},
	}, domain.EvolveSubscription, domain.DecideSubscription)
}
