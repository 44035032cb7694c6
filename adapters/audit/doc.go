// Package audit makes the ledger tamper-evident: a sealer folds $all into a
// hash chain and periodically appends signed seals; Verify replays the ledger
// (or an export) and reports the first position where the ledger and the
// seals disagree; Export writes a verifiable NDJSON export of all or part of
// the ledger. The construction is documented byte for byte in docs/audit.md;
// the hashing itself lives in domain/audit.go.
package audit
