//go:build goexperiment.jsonv2

package httpapi

import jsonv2 "encoding/json/v2"

// decodeStrict decodes b with JSON v2's defaults, which are strict where
// encoding/json is lenient (names matched exactly, a repeated name or
// invalid UTF-8 refused), and refuses unknown members as decodeJSON does.
func decodeStrict(b []byte, dst any) error {
	return jsonv2.Unmarshal(b, dst, jsonv2.RejectUnknownMembers(true))
}
