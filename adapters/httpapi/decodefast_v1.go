//go:build !goexperiment.jsonv2

package httpapi

import "errors"

// decodeStrict needs JSON v2 (the Makefile's builds); without it every
// body goes to the generic decoder.
func decodeStrict([]byte, any) error { return errNoStrictDecoder }

var errNoStrictDecoder = errors.New("built without JSON v2")
