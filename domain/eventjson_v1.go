//go:build !goexperiment.jsonv2

package domain

import "encoding/json"

// unmarshalEvent decodes an event's JSON (see eventjson_v2.go for the
// faster path of builds with Go's JSON v2).
func unmarshalEvent(data []byte, v any) error { return json.Unmarshal(data, v) }
