package viewstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/hookledger/hookledger/projections"
)

// TestCodecCoversEveryField sets every field of a DeliveryView (by
// reflection, so a field added later is set too) to a distinct non-zero
// value and expects it back: a field the codec forgets fails here.
func TestCodecCoversEveryField(t *testing.T) {
	var d projections.DeliveryView
	n := 0
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			n++
			switch {
			case f.Type() == reflect.TypeOf(time.Time{}):
				f.Set(reflect.ValueOf(time.Date(2026, 11, 29, 10, n, n, n*1000, time.UTC)))
			case f.Kind() == reflect.Struct:
				fill(f)
			case f.Kind() == reflect.String:
				f.SetString("s" + string(rune('a'+n%26)) + "x")
			case f.Kind() == reflect.Int:
				f.SetInt(int64(n * 7))
			case f.Kind() == reflect.Uint64:
				f.SetUint(uint64(n * 1000003))
			default:
				t.Fatalf("field %s of kind %s: teach the codec and this test", v.Type().Field(i).Name, f.Kind())
			}
		}
	}
	fill(reflect.ValueOf(&d).Elem())
	b, err := encodeDelivery(&d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeDelivery(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, d) {
		t.Fatalf("round trip lost fields:\n got %+v\nwant %+v", *got, d)
	}
	zero := projections.DeliveryView{}
	b, _ = encodeDelivery(&zero)
	if got, err := decodeDelivery(b); err != nil || !reflect.DeepEqual(*got, zero) {
		t.Fatalf("zero value: %+v %v", got, err)
	}
	for cut := 9; cut < len(b); cut++ {
		if _, err := decodeDelivery(b[:cut]); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", cut, len(b))
		}
	}
}

// TestMessageCodecCoversEveryField: the same for message records, plus a
// record without deliveries, and truncated records refused.
func TestMessageCodecCoversEveryField(t *testing.T) {
	var m projections.MessageView
	v := reflect.ValueOf(&m).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeOf(time.Time{}):
			f.Set(reflect.ValueOf(time.Date(2026, 11, 29, 10, i, i, i*1000, time.UTC)))
		case f.Kind() == reflect.String:
			f.SetString("m" + string(rune('a'+i)) + "x")
		case f.Kind() == reflect.Uint64:
			f.SetUint(uint64(i * 1000003))
		case f.Type() == reflect.TypeOf([]string(nil)):
			f.Set(reflect.ValueOf([]string{"dlv_1", "dlv_22", ""}))
		default:
			t.Fatalf("field %s of kind %s: teach the codec and this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	for _, want := range []projections.MessageView{m, {}} {
		b := encodeMessage(&want)
		got, err := decodeMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("round trip lost fields:\n got %+v\nwant %+v", *got, want)
		}
		for cut := 0; cut < len(b); cut++ {
			if _, err := decodeMessage(b[:cut]); err == nil {
				t.Fatalf("a record cut at %d of %d bytes decoded", cut, len(b))
			}
		}
	}
}
