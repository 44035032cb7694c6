// Package sender makes the outbound webhook requests: one signed POST per
// attempt, with keep-alive connection reuse, a connect and a total timeout, no
// redirects followed, the response body read up to a cap, and every outcome
// classified into the domain's error classes.
//
// It pools its connections itself (transport.go): HTTP/1.1, each request
// written and its answer read on the sending goroutine with net/http's
// writer and parser, a request never sent twice once written whole.
//
// Its network guard refuses loopback, private, link-local, multicast,
// unspecified, shared (CGNAT), reserved and cloud-metadata addresses (IPv4 and
// IPv6, IPv4-mapped IPv6 unmapped first). The check runs in the dialer's
// Control hook, on the address actually being connected to, after DNS
// resolution: a DNS answer cannot rebind past it.
package sender
