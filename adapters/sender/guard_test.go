package sender

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestCheckAddrRefusesEveryForbiddenClass(t *testing.T) {
	cases := map[string]bool{ // address -> allowed
		"127.0.0.1":            false,
		"127.5.6.7":            false,
		"::1":                  false,
		"::ffff:127.0.0.1":     false, // IPv4-mapped loopback
		"::ffff:10.0.0.1":      false,
		"10.1.2.3":             false,
		"172.16.0.1":           false,
		"172.31.255.255":       false,
		"192.168.1.1":          false,
		"fc00::1":              false,
		"fd00:ec2::254":        false, // AWS IPv6 metadata
		"169.254.169.254":      false, // cloud metadata
		"169.254.1.1":          false,
		"fe80::1":              false,
		"224.0.0.1":            false,
		"ff02::1":              false,
		"0.0.0.0":              false,
		"::":                   false,
		"100.100.100.200":      false, // Alibaba metadata (shared space)
		"255.255.255.255":      false,
		"240.0.0.1":            false,
		"64:ff9b::a00:1":       false, // NAT64 of 10.0.0.1
		"93.184.216.34":        true,
		"8.8.8.8":              true,
		"172.32.0.1":           true,
		"2606:4700:4700::1111": true,
		"::ffff:93.184.216.34": true,
	}
	for s, allowed := range cases {
		err := CheckAddr(netip.MustParseAddr(s))
		var be *BlockedError
		if allowed && err != nil {
			t.Errorf("%s: refused (%v), want allowed", s, err)
		}
		if !allowed && !errors.As(err, &be) {
			t.Errorf("%s: allowed, want a *BlockedError", s)
		}
	}
}

func TestCheckURLAtCreation(t *testing.T) {
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "internal.example" || host == "xn--internl-bxa.example" { // internäl.example
			return []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.5")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	for raw, ok := range map[string]bool{
		"https://example.com/hook":       true,
		"http://127.0.0.1:8080/":         false,
		"http://[::ffff:127.0.0.1]/":     false,
		"http://localhost:9000/":         false,
		"http://api.localhost/":          false,
		"http://169.254.169.254/latest/": false,
		"https://internal.example/":      false, // one answer is private
		// Checked in the form that is resolved: fullwidth letters are
		// "localhost" to IDNA, and an internationalized name is looked up
		// as xn--.
		"http://ｌｏｃａｌｈｏｓｔ:9000/":    false,
		"https://internäl.example/": false,
		"https://a\u200db.example/": false, // not a name IDNA allows
	} {
		err := CheckURL(context.Background(), raw, resolve)
		if ok != (err == nil) {
			t.Errorf("%s: %v, want allowed=%v", raw, err, ok)
		}
	}
}
