//go:build goexperiment.jsonv2

package domain

import (
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
)

// eventJSON is how events are decoded when the build has Go's JSON v2
// (the Makefile's builds): on the v2 API, about a third faster than the v1
// API on the same engine, which spends that third on v1's compatibility
// rules. The events were written by Encode, so of those rules only two can
// matter and are kept: invalid UTF-8 in a string is taken as it is (a
// message body may hold it), and a repeated member name is not refused.
// Names are matched exactly, as Encode writes them.
var eventJSON = jsonv2.JoinOptions(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))

func unmarshalEvent(data []byte, v any) error { return jsonv2.Unmarshal(data, v, eventJSON) }
