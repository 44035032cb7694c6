package domain_test

import (
	"errors"
	"testing"

	"github.com/hookledger/hookledger/domain"
)

func TestFilters(t *testing.T) {
	f := domain.Filters{"order.paid", "user.*"}
	cases := map[string]string{
		"order.paid":      "order.paid",
		"order.refunded":  "",
		"user.created":    "user.*",
		"user.profile.x":  "user.*",
		"user":            "",
		"username.change": "",
	}
	for typ, want := range cases {
		got, ok := f.Match(typ)
		if got != want || ok != (want != "") {
			t.Errorf("Match(%q) = %q,%v want %q", typ, got, ok, want)
		}
	}
	if p, ok := (domain.Filters{"*"}).Match("anything.at.all"); !ok || p != "*" {
		t.Error(`"*" must match every type`)
	}
}

func TestFiltersValidate(t *testing.T) {
	for _, f := range []domain.Filters{{"order.paid"}, {"user.*"}, {"*"}, {"a:b", "x-y.z_1"}} {
		if err := f.Validate(); err != nil {
			t.Errorf("%q: %v", f, err)
		}
	}
	for _, f := range []domain.Filters{nil, {}, {""}, {"order."}, {"or*der"}, {"*.paid"}, {"a..b"}, {"a.b", "a.b"}, {"has space"}, {".*"}} {
		if err := f.Validate(); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("%q: want ErrInvalidArgument, got %v", f, err)
		}
	}
}
