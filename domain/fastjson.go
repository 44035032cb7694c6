package domain

// The fast decoders read the events a ledger holds most of (the four a
// message delivered at its first attempt writes: published, scheduled,
// attempt started, acknowledged) in the form Encode writes them: compact
// JSON, plain ASCII strings, integers, RFC 3339 times in UTC, a message's
// sealed body as canonical base64. Anything else (an escape, a non-ASCII
// byte, a repeated or unknown member, a number or time in another form, a
// sealed excerpt, a body in the clear when it is wanted) makes them answer
// ok=false, and
// the generic decoder reads the event instead, so the two always agree
// (fastjson_test.go checks it on every form, and a fuzz target on any
// input). They exist because the generic decoder, by reflection, was a
// fifth of a rebuild's CPU; these take about half its time
// (BenchmarkDecodeHotEvents).

// decodeFast decodes data as the event type typ when a fast decoder knows
// both; ok=false leaves it to the generic decoder. withBody=false leaves a
// message's body out, as DecodeEventWithoutBody does; with it, the fast
// decoder of message.published reads only a sealed body.
func decodeFast(typ string, data []byte, withBody bool) (Event, bool) {
	switch typ {
	case TypeDeliveryScheduled:
		return fastScheduled(data)
	case TypeAttemptStarted:
		return fastStarted(data)
	case TypeAttemptAcknowledged:
		return fastAcknowledged(data)
	case TypeMessagePublished:
		return fastPublished(data, withBody)
	}
	return nil, false
}

func fastScheduled(data []byte) (Event, bool) {
	var e DeliveryScheduled
	var u uint64
	s := scanner{b: data}
	for s.member() {
		var ok bool
		switch string(s.name) {
		case "delivery_id":
			ok = s.str(&e.DeliveryID)
		case "message_id":
			ok = s.str(&e.MessageID)
		case "subscription_id":
			ok = s.str(&e.SubscriptionID)
		case "application_id":
			ok = s.str(&e.ApplicationID)
		case "event_type":
			ok = s.str(&e.EventType)
		case "subscription_revision":
			ok = s.uint(&e.SubscriptionRevision)
		case "matched_pattern":
			ok = s.str(&e.MatchedPattern)
		case "message_position":
			ok = s.uint(&u)
			e.MessagePosition = Position(u)
		case "due_at":
			ok = s.time(&e.DueAt)
		case "scheduled_by":
			ok = s.str(&e.ScheduledBy)
		case "replay_position":
			ok = s.uint(&u)
			e.ReplayPosition = Position(u)
		}
		if !ok {
			return nil, false
		}
	}
	return e, s.done()
}

func fastStarted(data []byte) (Event, bool) {
	var e AttemptStarted
	s := scanner{b: data}
	for s.member() {
		var ok bool
		switch string(s.name) {
		case "delivery_id":
			ok = s.str(&e.DeliveryID)
		case "attempt":
			ok = s.int(&e.Attempt)
		case "worker":
			ok = s.str(&e.Worker)
		case "started_at":
			ok = s.time(&e.StartedAt)
		case "node_id":
			ok = s.str(&e.NodeID)
		case "partition":
			p := new(int)
			e.Partition = p
			ok = s.int(p)
		case "epoch":
			ok = s.uint(&e.Epoch)
		}
		if !ok {
			return nil, false
		}
	}
	return e, s.done()
}

func fastAcknowledged(data []byte) (Event, bool) {
	var e AttemptAcknowledged
	s := scanner{b: data}
	for s.member() {
		var ok bool
		switch string(s.name) {
		case "delivery_id":
			ok = s.str(&e.DeliveryID)
		case "attempt":
			ok = s.int(&e.Attempt)
		case "status_code":
			ok = s.int(&e.StatusCode)
		case "latency_us":
			var n int
			ok = s.int(&n)
			e.LatencyUS = int64(n)
		case "response_excerpt":
			ok = s.str(&e.ResponseExcerpt)
		case "key_ids":
			ok = s.strs(&e.KeyIDs)
		case "acknowledged_at":
			ok = s.time(&e.AcknowledgedAt)
		}
		if !ok { // a sealed excerpt among them too: base64, left to the generic decoder
			return nil, false
		}
	}
	return e, s.done()
}

// cutBody finds the body of a message.published's Data (its payload or
// payload_sealed member, with the comma before it) and returns what comes
// before and after it: the two together are the Data without the body,
// which DecodeEventWithoutBody decodes to the same event. ok is false when
// the scanner cannot read all of data, it has no body, or the body is its
// first member (never so as Encode writes it): the caller keeps data whole,
// and a decoder meets whatever is wrong with it.
func cutBody(data []byte) (head, tail []byte, ok bool) {
	s := scanner{b: data}
	from, to := -1, -1
	for {
		start := s.i
		if !s.member() {
			break
		}
		body := string(s.name) == "payload" || string(s.name) == "payload_sealed"
		if !s.skip() {
			return nil, nil, false
		}
		if body && start > 0 {
			from, to = start, s.i
		}
	}
	if s.state != scanEnded || s.i != len(data) || from < 0 {
		return nil, nil, false
	}
	return data[:from], data[to:], true
}

// fastPublished reads a message.published, without its body, or with a
// sealed body (what the live fold decodes once per message, body included,
// for the attempts that follow); a body in the clear, wanted, is left to the
// generic decoder.
func fastPublished(data []byte, withBody bool) (Event, bool) {
	var e MessagePublished
	s := scanner{b: data}
	for s.member() {
		var ok bool
		switch string(s.name) {
		case "message_id":
			ok = s.str(&e.MessageID)
		case "application_id":
			ok = s.str(&e.ApplicationID)
		case "event_type":
			ok = s.str(&e.EventType)
		case "payload":
			ok = !withBody && s.skip() // the body, left out
		case "payload_sealed":
			if withBody {
				e.Sealed = &SealedValue{}
				ok = s.sealed(e.Sealed)
			} else {
				ok = s.skip()
			}
		case "payload_hash":
			ok = s.str(&e.PayloadHash)
		case "subject":
			ok = s.str(&e.Subject)
		case "idempotency_key":
			ok = s.str(&e.IdempotencyKey)
		case "published_at":
			ok = s.time(&e.PublishedAt)
		}
		if !ok {
			return nil, false
		}
	}
	return e, s.done()
}
