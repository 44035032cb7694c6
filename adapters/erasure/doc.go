// Package erasure is application logic over ports (the event store, the
// domain commands, the key store): it carries out crypto-shredding erasures
// (docs/audit.md "Erasure") and the retention sweeps that request them.
package erasure
