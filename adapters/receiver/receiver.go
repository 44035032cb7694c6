// Package receiver is a webhook endpoint that verifies every request with the
// Standard Webhooks reference library (v1, HMAC: a whsec_ secret) or, for an
// ed25519 subscription (v1a), with its whpk_ public key, and records what it
// received. The benchmark harness and the end-to-end tests use it as the
// other side.
package receiver

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"hash/fnv"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookledger/hookledger/domain"
)

// Receipt is one verified request.
type Receipt struct {
	Endpoint  string
	MessageID string
	At        time.Time
	Body      []byte
}

// Receiver serves endpoints at /<name>, each with its own secret.
type Receiver struct {
	// IgnoreTimestamp skips the 5-minute timestamp check (for tests whose
	// ledger runs on a fake clock).
	IgnoreTimestamp bool
	// OnReceipt, when set, is called for every verified request.
	OnReceipt func(Receipt)
	// OnReject, when set, is called for every request refused, with why.
	OnReject func(endpoint, messageID string, why error)
	// Answer, when set, chooses the status of a verified request's answer
	// (default 200): local testing simulates failing and slow endpoints.
	Answer func(Receipt) int
	// Compact keeps a 64-bit hash per (endpoint, message) pair instead of
	// the pair itself, so that counting a long run's distinct deliveries
	// costs ~16 bytes each (Count and Pairs then know nothing).
	Compact bool
	// SeqOf, when set, reads a sequence number from a body (ok false when
	// it has none): such deliveries are counted in one bit per sequence
	// number and endpoint, so a run's memory stays a few hundred KB whatever
	// its length (the benchmark numbers its payloads).
	SeqOf func(body []byte) (seq int64, ok bool)

	mu        sync.RWMutex
	fallback  verifier
	endpoints map[string]verifier
	counts    map[[2]string]int
	hashes    map[uint64]uint32
	seen      map[string][]uint64 // SeqOf: bit seq set once received, per endpoint
	unique    atomic.Int64
	total     atomic.Int64
	rejected  atomic.Int64
}

// New returns a receiver with no endpoints.
func New() *Receiver {
	return &Receiver{endpoints: map[string]verifier{}, counts: map[[2]string]int{}, hashes: map[uint64]uint32{}, seen: map[string][]uint64{}}
}

func (r *Receiver) seqOf(body []byte) (int64, bool) {
	if r.SeqOf == nil {
		return 0, false
	}
	seq, ok := r.SeqOf(body)
	return seq, ok && seq >= 0 && seq < 1<<28 // larger ones are counted by hash or pair
}

// verifier checks a request's signature; *standardwebhooks.Webhook is one.
type verifier interface {
	Verify(body []byte, h http.Header) error
	VerifyIgnoringTimestamp(body []byte, h http.Header) error
}

// asymVerifier checks v1a (ed25519) signatures with a whpk_ public key: the
// reference library knows v1 only.
type asymVerifier struct{ public string }

func (a asymVerifier) Verify(body []byte, h http.Header) error {
	return domain.VerifyAsym(a.public, h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"), body, time.Now())
}

func (a asymVerifier) VerifyIgnoringTimestamp(body []byte, h http.Header) error {
	ts := h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp: not an integer")
	}
	return domain.VerifyAsym(a.public, h.Get("webhook-id"), ts, h.Get("webhook-signature"), body, time.Unix(sec, 0))
}

// newVerifier takes a v1 whsec_ secret or a v1a whpk_ public key. A whsk_
// secret is refused: it is the ledger's private key, and an endpoint needs
// (and should hold) only the public one.
func newVerifier(key string) (verifier, error) {
	switch {
	case strings.HasPrefix(key, domain.PublicKeyPrefix):
		pub, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(key, domain.PublicKeyPrefix))
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, errors.New("want whpk_<base64 of a 32-byte ed25519 public key>")
		}
		return asymVerifier{public: key}, nil
	case strings.HasPrefix(key, domain.AsymSecretPrefix):
		return nil, errors.New("that is the ed25519 subscription's private key (whsk_); verify with its public key, whpk_... (GET /v1/applications/{app}/subscriptions/{sub}/signing-key)")
	}
	return standardwebhooks.NewWebhook(key)
}

// Add registers endpoint name with its whsec_ secret, or the whpk_ public
// key of an ed25519 subscription.
func (r *Receiver) Add(name, key string) error {
	v, err := newVerifier(key)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.endpoints[name] = v
	r.mu.Unlock()
	return nil
}

// AddDefault sets the key (as Add takes it) for paths with no endpoint of
// their own.
func (r *Receiver) AddDefault(key string) error {
	v, err := newVerifier(key)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.fallback = v
	r.mu.Unlock()
	return nil
}

// maxBody bounds the body read from a request.
const maxBody = 8 << 20

// presizedBody bounds the allocation made on a body's declared length alone,
// before its bytes arrive: a client declaring megabytes and sending nothing
// gets no such buffer.
const presizedBody = 64 << 10

// readBody reads req's body, at most limit bytes: in one allocation of the
// length the request declares when it declares a small one (io.ReadAll grows
// its buffer from 512 bytes, three allocations for a 1 KiB event).
func readBody(req *http.Request, limit int64) ([]byte, error) {
	if n := req.ContentLength; n >= 0 && n <= min(limit, presizedBody) {
		body := make([]byte, n)
		_, err := io.ReadFull(req.Body, body) // the server ends the body at its declared length
		return body, err
	}
	return io.ReadAll(io.LimitReader(req.Body, limit))
}

// ServeHTTP verifies and records a request: 200 when the signature verifies,
// 401 when it does not, 404 for an unknown endpoint.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	name := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.RLock()
	wh := r.endpoints[name]
	if wh == nil {
		wh = r.fallback
	}
	r.mu.RUnlock()
	if wh == nil {
		http.NotFound(w, req)
		return
	}
	body, err := readBody(req, maxBody)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if r.IgnoreTimestamp {
		err = wh.VerifyIgnoringTimestamp(body, req.Header)
	} else {
		err = wh.Verify(body, req.Header)
	}
	if err != nil {
		r.rejected.Add(1)
		if r.OnReject != nil {
			r.OnReject(name, req.Header.Get("webhook-id"), err)
		}
		http.Error(w, "signature: "+err.Error(), http.StatusUnauthorized)
		return
	}
	rc := Receipt{Endpoint: name, MessageID: req.Header.Get("webhook-id"), At: time.Now(), Body: body}
	var first bool
	r.mu.Lock()
	if seq, ok := r.seqOf(body); ok {
		bits := r.seen[name]
		w, bit := seq/64, uint64(1)<<(seq%64)
		if int(w) >= len(bits) {
			bits = append(bits, make([]uint64, int(w)+1-len(bits))...)
			r.seen[name] = bits
		}
		first = bits[w]&bit == 0
		bits[w] |= bit
	} else if r.Compact {
		h := fnv.New64a()
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write([]byte(rc.MessageID))
		k := h.Sum64()
		r.hashes[k]++
		first = r.hashes[k] == 1
	} else {
		key := [2]string{name, rc.MessageID}
		r.counts[key]++
		first = r.counts[key] == 1
	}
	r.mu.Unlock()
	if first {
		r.unique.Add(1)
	}
	r.total.Add(1)
	if r.OnReceipt != nil {
		r.OnReceipt(rc)
	}
	status := http.StatusOK
	if r.Answer != nil {
		status = r.Answer(rc)
	}
	w.WriteHeader(status)
}

// Count is how many verified requests endpoint got for message id.
func (r *Receiver) Count(endpoint, messageID string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.counts[[2]string{endpoint, messageID}]
}

// Pairs returns every (endpoint, message id) received, with its count.
func (r *Receiver) Pairs() map[[2]string]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[[2]string]int, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// Unique is the number of distinct (endpoint, message) pairs received.
func (r *Receiver) Unique() int64 { return r.unique.Load() }

// Total is the number of verified requests, retries included.
func (r *Receiver) Total() int64 { return r.total.Load() }

// Rejected is the number of requests whose signature did not verify.
func (r *Receiver) Rejected() int64 { return r.rejected.Load() }
