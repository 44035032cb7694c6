//go:build cgo

package fsync

const cgoEnabled = true
