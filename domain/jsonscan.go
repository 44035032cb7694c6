package domain

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"
)

// scanner reads the JSON the fast decoders (fastjson.go) take: an object of
// plain strings, integers, UTC times and arrays of strings, with any value
// skipped whole, from b at i. It answers false at anything else, for the
// generic decoder. The strings it reads are cut from one allocation made at
// the end (finish): one for all of an event's strings, holding nothing
// else, not one per string.
type scanner struct {
	b       []byte
	i       int
	state   int
	name    []byte
	names   [16][]byte // the members seen: the events read here have fewer
	seen    int
	pending [16]pendingString
	n       int
}

type pendingString struct {
	dst      *string
	from, to int
}

const (
	scanStart = iota
	scanFirst
	scanEnded
	scanFailed
)

// member moves to the next member of the object data holds, with no
// whitespace, and sets name to its name: false at the object's end (done
// then tells whether it ended well) or at anything else (a name seen twice,
// which the generic decoder allows, the last one winning).
func (s *scanner) member() bool {
	if s.state == scanEnded || s.state == scanFailed {
		return false
	}
	if s.state == scanStart {
		if !s.take('{') {
			s.state = scanFailed
			return false
		}
		s.state = scanFirst
		if s.take('}') {
			s.state = scanEnded
			return false
		}
	} else {
		if s.take('}') {
			s.state = scanEnded
			return false
		}
		if !s.take(',') {
			s.state = scanFailed
			return false
		}
	}
	name, ok := s.plain()
	if !ok || !s.take(':') || s.seen == len(s.names) {
		s.state = scanFailed
		return false
	}
	for _, prev := range s.names[:s.seen] {
		if bytes.Equal(prev, name) {
			s.state = scanFailed
			return false
		}
	}
	s.names[s.seen] = name
	s.seen++
	s.name = name
	return true
}

// done reports whether the object ended well and nothing follows it, and
// sets the strings read.
func (s *scanner) done() bool {
	if s.state != scanEnded || s.i != len(s.b) {
		return false
	}
	s.finish()
	return true
}

// finish sets the strings read, from one copy of their bytes.
func (s *scanner) finish() {
	total := 0
	for _, p := range s.pending[:s.n] {
		total += p.to - p.from
	}
	var all strings.Builder
	all.Grow(total)
	for _, p := range s.pending[:s.n] {
		all.Write(s.b[p.from:p.to])
	}
	whole, at := all.String(), 0
	for _, p := range s.pending[:s.n] {
		*p.dst = whole[at : at+p.to-p.from]
		at += p.to - p.from
	}
}

func (s *scanner) take(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// plain reads a string of printable ASCII without escapes, returning its
// bytes (aliasing b).
func (s *scanner) plain() ([]byte, bool) {
	if !s.take('"') {
		return nil, false
	}
	n := bytes.IndexByte(s.b[s.i:], '"')
	if n < 0 {
		return nil, false
	}
	v := s.b[s.i : s.i+n]
	if !printableASCII(v) {
		return nil, false
	}
	s.i += n + 1
	return v, true
}

// printableASCII reports whether b has no byte below 0x20, none from 0x80,
// and no backslash: eight bytes at a time.
func printableASCII(b []byte) bool {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		bs := w ^ (0x5c * ones)
		// (x - ones) & ^x & high is non-zero iff some byte of x is zero,
		// and a byte below 0x20 borrows the same way; a byte from 0x80 has
		// its high bit set. A borrow into the next byte only follows a
		// byte that is itself caught.
		if (w|(w-0x20*ones)&^w|(bs-ones)&^bs)&high != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}

// str reads a plain string into dst, set by finish.
func (s *scanner) str(dst *string) bool {
	b, ok := s.plain()
	if !ok || s.n == len(s.pending) {
		return false
	}
	s.pending[s.n] = pendingString{dst: dst, from: s.i - 1 - len(b), to: s.i - 1}
	s.n++
	return true
}

// strs reads null (nil) or an array of plain strings (never nil, as the
// generic decoder makes it).
func (s *scanner) strs(dst *[]string) bool {
	if s.literal("null") {
		*dst = nil
		return true
	}
	if !s.take('[') {
		return false
	}
	out := []string{}
	if !s.take(']') {
		for {
			v, ok := s.plain()
			if !ok {
				return false
			}
			out = append(out, string(v))
			if s.take(',') {
				continue
			}
			if !s.take(']') {
				return false
			}
			break
		}
	}
	*dst = out
	return true
}

// sealed reads a sealed value: an object of alg, key_id (plain strings) and
// nonce, ciphertext (base64, padded, canonical: what json.Marshal writes),
// each once, nothing else.
func (s *scanner) sealed(v *SealedValue) bool {
	in := scanner{b: s.b, i: s.i}
	for in.member() {
		var ok bool
		switch string(in.name) {
		case "alg":
			ok = in.str(&v.Alg)
		case "key_id":
			ok = in.str(&v.KeyID)
		case "nonce":
			ok = in.base64(&v.Nonce)
		case "ciphertext":
			ok = in.base64(&v.Ciphertext)
		}
		if !ok {
			return false
		}
	}
	if in.state != scanEnded {
		return false
	}
	in.finish()
	s.i = in.i
	return true
}

// base64 reads a string of standard, padded base64 into dst (never nil, as
// the generic decoder makes it). Strict decoding refuses non-zero padding
// bits; the generic decoder may take them, and then reads the value itself.
func (s *scanner) base64(dst *[]byte) bool {
	b, ok := s.plain()
	if !ok {
		return false
	}
	out := make([]byte, strictBase64.DecodedLen(len(b)))
	n, err := strictBase64.Decode(out, b)
	if err != nil {
		return false
	}
	*dst = out[:n]
	return true
}

var strictBase64 = base64.StdEncoding.Strict()

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// digits reads an unsigned JSON integer of at most 18 digits (no overflow
// to check), no leading zero, no fraction or exponent after it.
func (s *scanner) digits() (uint64, bool) {
	start := s.i
	var n uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' && s.i-start < 19 {
		n = n*10 + uint64(s.b[s.i]-'0')
		s.i++
	}
	l := s.i - start
	if l == 0 || l > 18 || (l > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	return n, true
}

func (s *scanner) uint(dst *uint64) bool {
	n, ok := s.digits()
	*dst = n
	return ok
}

func (s *scanner) int(dst *int) bool {
	neg := s.take('-')
	n, ok := s.digits()
	if neg {
		*dst = -int(n)
	} else {
		*dst = int(n)
	}
	return ok && !(neg && n == 0) // "-0": left to the generic decoder
}

// time reads "YYYY-MM-DDTHH:MM:SS[.fraction]Z", the form Encode writes (UTC),
// with every field in its range.
func (s *scanner) time(dst *time.Time) bool {
	b, ok := s.plain()
	if !ok || len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return false
	}
	num := func(from, to int) int {
		n := 0
		for _, c := range b[from:to] {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return false
	}
	if day > daysIn(time.Month(month), year) {
		return false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return false
		}
		f := num(20, len(b)-1)
		if f < 0 {
			return false
		}
		for range 10 - len(frac) {
			f *= 10
		}
		nsec = f
	} else if len(b) != 20 {
		return false
	}
	*dst = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// skip passes over one JSON value of any kind (a message's body) without
// decoding it, checking it against JSON's grammar as the generic decoder
// would (invalid UTF-8 in a string is taken, as it takes it). Nesting
// deeper than 64 is left to the generic decoder.
func (s *scanner) skip() bool { return s.value(0) }

func (s *scanner) value(depth int) bool {
	s.space()
	if s.i >= len(s.b) || depth > 64 {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.skipString()
	case c == '{':
		s.i++
		if s.space(); s.take('}') {
			return true
		}
		for {
			if s.space(); s.i >= len(s.b) || s.b[s.i] != '"' || !s.skipString() {
				return false
			}
			if s.space(); !s.take(':') || !s.value(depth+1) {
				return false
			}
			if s.space(); s.take('}') {
				return true
			}
			if !s.take(',') {
				return false
			}
		}
	case c == '[':
		s.i++
		if s.space(); s.take(']') {
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			if s.space(); s.take(']') {
				return true
			}
			if !s.take(',') {
				return false
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return s.literal("true") || s.literal("false") || s.literal("null")
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// number passes over -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	s.take('-')
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.take('0') {
		if s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			return false
		}
	} else if digits() == 0 {
		return false
	}
	if s.take('.') && digits() == 0 {
		return false
	}
	if s.take('e') || s.take('E') {
		if !s.take('+') {
			s.take('-')
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// skipString passes over a string at its opening quote, checking its
// escapes and that it holds no control character.
func (s *scanner) skipString() bool {
	s.i++ // the opening quote
	for {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if j < 0 {
			return false
		}
		span := s.b[s.i : s.i+j]
		if noControlNorEscape(span) {
			s.i += j + 1
			return true
		}
		// Escapes, or a control character: byte by byte.
		for s.i < len(s.b) {
			c := s.b[s.i]
			switch {
			case c == '"':
				s.i++
				return true
			case c < 0x20:
				return false
			case c == '\\':
				if s.i+1 >= len(s.b) {
					return false
				}
				switch s.b[s.i+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					s.i += 2
				case 'u':
					if s.i+6 > len(s.b) {
						return false
					}
					for _, h := range s.b[s.i+2 : s.i+6] {
						if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
							return false
						}
					}
					s.i += 6
				default:
					return false
				}
			default:
				s.i++
			}
		}
		return false
	}
}

// noControlNorEscape reports whether b has no byte below 0x20 and no
// backslash (bytes from 0x80 are taken), eight bytes at a time.
func noControlNorEscape(b []byte) bool {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		// Bytes from 0x80 become 0x7f first: the tests below are exact on
		// words of bytes below 0x80 only.
		m := (w & high >> 7) * 0xff
		lo := w&^m | m&(0x7f*ones)
		bs := lo ^ (0x5c * ones)
		if ((lo-0x20*ones)&^lo|(bs-ones)&^bs)&high != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 || c == '\\' {
			return false
		}
	}
	return true
}
