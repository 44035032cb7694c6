package main

// CSV for the spreadsheets compliance staff use: history and timeline
// (--format csv), and exports (export --format csv). The NDJSON export stays
// the proof: only it carries the seals and the signed footer.

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// writeItemsCSV writes events as CSV: one row an event, the data as compact
// JSON in the last column.
func writeItemsCSV(w io.Writer, items []item) int {
	cw := csv.NewWriter(w)
	cw.Write([]string{"position", "stream", "revision", "type", "recorded_at", "actor", "actor_name", "data"})
	for _, it := range items {
		cw.Write([]string{strconv.FormatUint(it.Position, 10), it.Stream, strconv.FormatUint(it.Revision, 10), it.Type,
			it.at().UTC().Format(time.RFC3339Nano), it.Actor, it.ActorName, compactJSON(it.Data)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// exportToCSV turns an export's event lines into CSV rows (the seals, the
// header and the signed footer stay in the NDJSON export, the only one that
// verifies).
func exportToCSV(r io.Reader, w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"position", "stream", "revision", "type", "created", "actor", "actor_name", "payload_erased_by", "data"})
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var ev struct {
			Kind, Stream, Type string
			ActorName          string `json:"actor_name"`
			Position, Revision uint64
			Created            time.Time
			Data               []byte
			DataRedacted       json.RawMessage `json:"data_redacted"`
			Metadata           []byte
			Payload            *struct {
				ErasureID string `json:"erasure_id"`
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return err
		}
		if ev.Kind != "event" {
			continue
		}
		var md struct{ Actor string }
		json.Unmarshal(ev.Metadata, &md)
		data := ev.Data
		if len(ev.DataRedacted) > 0 {
			data = ev.DataRedacted
		}
		erasedBy := ""
		if ev.Payload != nil {
			erasedBy = ev.Payload.ErasureID
		}
		cw.Write([]string{strconv.FormatUint(ev.Position, 10), ev.Stream, strconv.FormatUint(ev.Revision, 10), ev.Type,
			ev.Created.UTC().Format(time.RFC3339Nano), md.Actor, ev.ActorName, erasedBy, compactJSON(data)})
	}
	cw.Flush()
	if err := sc.Err(); err != nil {
		return err
	}
	return cw.Error()
}
