package sender

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// BlockedError is returned when the guard refuses a target address.
type BlockedError struct {
	Addr   netip.Addr
	Reason string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("target address %s is not allowed (%s); an operator can allow private targets with --allow-private-targets", e.Addr, e.Reason)
}

var blockedPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT, some cloud metadata)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64 (may embed a private IPv4 address)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("2002::/16"), "6to4 (may embed a private IPv4 address)"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
}

// CheckAddr returns a *BlockedError for an address webhooks must not reach
// (unless private targets are allowed), nil otherwise.
func CheckAddr(a netip.Addr) error {
	a = a.Unmap()
	reason := ""
	switch {
	case !a.IsValid():
		reason = "invalid"
	case a.IsUnspecified():
		reason = "unspecified"
	case a.IsLoopback():
		reason = "loopback"
	case a.IsPrivate():
		reason = "private"
	case a.IsLinkLocalUnicast():
		reason = "link-local (includes cloud metadata 169.254.169.254)"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		reason = "multicast"
	}
	if reason == "" {
		for _, p := range blockedPrefixes {
			if p.prefix.Contains(a) {
				reason = p.reason
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return &BlockedError{Addr: a, Reason: reason}
}

// control is the dialer's Control hook: it sees the resolved address.
func control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("guard: cannot parse dial address %q: %w", address, err)
	}
	return CheckAddr(a)
}

// CheckURL refuses, at subscription time, URLs whose host is an IP literal or
// a name that resolves to a forbidden address. resolve may be nil (then only
// literals and "localhost" are checked; names are checked at connect time).
func CheckURL(ctx context.Context, raw string, resolve func(ctx context.Context, host string) ([]netip.Addr, error)) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	// The form that is resolved (ASCIIHost): IDNA maps fullwidth
	// "ｌｏｃａｌｈｏｓｔ" to "localhost".
	host, err := ASCIIHost(u.Hostname())
	if err != nil {
		return err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return CheckAddr(a)
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return &BlockedError{Addr: netip.MustParseAddr("127.0.0.1"), Reason: "loopback (localhost)"}
	}
	if resolve == nil {
		return nil
	}
	addrs, err := resolve(ctx, host)
	if err != nil {
		return nil // unresolvable now: the connect-time check still applies
	}
	for _, a := range addrs {
		if err := CheckAddr(a); err != nil {
			return err
		}
	}
	return nil
}
