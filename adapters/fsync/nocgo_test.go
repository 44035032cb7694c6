//go:build !cgo

package fsync

const cgoEnabled = false
