package httpapi

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestJSONTypeName(t *testing.T) {
	cases := []struct {
		t    reflect.Type
		want string
	}{
		{reflect.TypeFor[string](), "a string"},
		{reflect.TypeFor[*string](), "a string"},
		{reflect.TypeFor[bool](), "true or false"},
		{reflect.TypeFor[int64](), "an integer"},
		{reflect.TypeFor[*int64](), "an integer"},
		{reflect.TypeFor[float64](), "a number"},
		{reflect.TypeFor[[]string](), "an array of strings"},
		{reflect.TypeFor[[]int64](), "an array of integers"},
		{reflect.TypeFor[[]bool](), "an array of booleans"},
		{reflect.TypeFor[[][]string](), "an array of arrays of strings"},
		{reflect.TypeFor[[]struct{ A int }](), "an array of objects"},
		{reflect.TypeFor[[]time.Time](), "an array of times (RFC 3339)"},
		{reflect.TypeFor[map[string]string](), "an object of strings"},
		{reflect.TypeFor[map[string][]string](), "an object of arrays of strings"},
		{reflect.TypeFor[struct{ A int }](), "an object"},
		{reflect.TypeFor[*struct{ A int }](), "an object"},
		{reflect.TypeFor[time.Time](), "a time (RFC 3339)"},
		{reflect.TypeFor[*time.Time](), "a time (RFC 3339)"},
		{reflect.TypeFor[[]byte](), "a base64 string"},
		{reflect.TypeFor[json.RawMessage](), "a JSON value"},
		{reflect.TypeFor[any](), "a JSON value"},
		{reflect.TypeFor[netip.Addr](), "a string"},
		{reflect.TypeFor[[]netip.Prefix](), "an array of strings"},
		{nil, "a JSON value"},
	}
	for _, c := range cases {
		if got := jsonTypeName(c.t); got != c.want {
			t.Errorf("jsonTypeName(%v) = %q, want %q", c.t, got, c.want)
		}
	}
}

func TestJSONValueName(t *testing.T) {
	for in, want := range map[string]string{
		"array": "an array", "object": "an object", "string": "a string", "number": "a number",
		"bool": "true or false", "true": "true or false", "null": "null", "number -5": "number -5",
	} {
		if got := jsonValueName(in); got != want {
			t.Errorf("jsonValueName(%q) = %q, want %q", in, got, want)
		}
	}
}
