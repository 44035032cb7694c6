package eventstoredb

// The key store of payload encryption, shared by the nodes of a cluster:
// the wrapped data keys in streams of their own beside the ledger, outside
// its prefix (never in $all as the ledger reads it, never in a seal or an
// export).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/domain"
)

// Event types of the key streams (not ledger events: no domain type).
const (
	typeMasterRecorded = "key_store.master_recorded"
	typeKeyCreated     = "data_key.created"
	typeKeyDestroyed   = "data_key.destroyed"
	typeKeyListed      = "data_key.listed"
	typeKeysDestroyed  = "data_keys.destroyed"
)

// KeyStreamsPrefix is where the key streams of a ledger with stream prefix
// p are: "keys-of-" + p, then "master", "key-<key id>" (a key, then its
// tombstone) and "index-<application>" (the ids of an application's keys,
// created and destroyed, for an erasure to find them).
func KeyStreamsPrefix(p string) string { return "keys-of-" + p }

// keyBackend implements keystore.Backend on the server. A key's stream
// holds data_key.created (the key, wrapped by the master key); destroying
// it appends data_key.destroyed and sets the stream's $tb past the key, so
// that the server answers no read of it and its scavenge deletes it.
type keyBackend struct {
	s    *Store
	root string
}

// KeyBackend is the key store's backend on this server, shared by every
// node of the ledger. Its Close does not close the Store.
func (s *Store) KeyBackend() (keystore.Backend, error) {
	root := KeyStreamsPrefix(s.opts.Prefix)
	if strings.HasPrefix(root, s.opts.Prefix) {
		return nil, fmt.Errorf("eventstoredb: the stream prefix %q would hold the key streams (%s…): choose another --store-prefix", s.opts.Prefix, root)
	}
	return &keyBackend{s: s, root: root}, nil
}

func (b *keyBackend) Close() error { return nil }

func (b *keyBackend) keyStream(id string) string { return b.root + "key-" + id }

func (b *keyBackend) indexStream(id string) string {
	app, _, _ := strings.Cut(id, "/")
	return b.root + "index-" + app
}

// last reads the last event of a raw stream (nil: no stream).
func (b *keyBackend) last(ctx context.Context, stream string) (*kurrentdb.RecordedEvent, error) {
	var got *kurrentdb.RecordedEvent
	err := b.s.readEach(ctx, "read a key", func(ctx context.Context, c *kurrentdb.Client) (*kurrentdb.ReadStream, error) {
		return c.ReadStream(ctx, stream, kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 1)
	}, func(e *kurrentdb.RecordedEvent) { got = e })
	if errors.Is(err, domain.ErrStreamNotFound) {
		return nil, nil
	}
	return got, err
}

// appendRaw appends one JSON event to a raw stream; the event's id is
// drawn once, so a retried append is the same append.
func (b *keyBackend) appendRaw(ctx context.Context, stream, typ string, state kurrentdb.StreamState, v any) (*kurrentdb.WriteResult, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	ev := kurrentdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: kurrentdb.ContentTypeJson, Data: data}
	var res *kurrentdb.WriteResult
	err = b.s.call(ctx, "append to the key store", func(ctx context.Context, c *kurrentdb.Client) error {
		var err error
		res, err = c.AppendToStream(ctx, stream, kurrentdb.AppendToStreamOptions{StreamState: state}, ev)
		return err
	})
	return res, err
}

func wrongVersion(err error) bool {
	code, ok := esdbCode(err)
	return ok && code == kurrentdb.ErrorCodeWrongExpectedVersion
}

type masterRecorded struct {
	MasterID string `json:"master_id"`
}

func (b *keyBackend) Master(ctx context.Context) (string, error) {
	e, err := b.last(ctx, b.root+"master")
	if err != nil || e == nil {
		return "", err
	}
	var m masterRecorded
	if err := json.Unmarshal(e.Data, &m); err != nil {
		return "", fmt.Errorf("%w: %s: %v", domain.ErrCorrupt, e.StreamID, err)
	}
	return m.MasterID, nil
}

// InitMaster records id once; of two nodes starting at once with different
// master keys, one records its own and the other is told that one.
func (b *keyBackend) InitMaster(ctx context.Context, id string) (string, error) {
	if have, err := b.Master(ctx); err != nil || have != "" {
		return have, err
	}
	_, err := b.appendRaw(ctx, b.root+"master", typeMasterRecorded, kurrentdb.NoStream{}, masterRecorded{MasterID: id})
	if wrongVersion(err) {
		return b.Master(ctx)
	}
	if err != nil {
		return "", err
	}
	return id, nil
}

func (b *keyBackend) Get(ctx context.Context, id string) (keystore.Record, *keystore.Tombstone, error) {
	e, err := b.last(ctx, b.keyStream(id))
	if err != nil {
		return keystore.Record{}, nil, err
	}
	if e == nil {
		return keystore.Record{}, nil, keystore.ErrNoKey
	}
	switch e.EventType {
	case typeKeyCreated:
		var rec keystore.Record
		if err := json.Unmarshal(e.Data, &rec); err != nil {
			return keystore.Record{}, nil, fmt.Errorf("%w: key %s: %v", domain.ErrCorrupt, id, err)
		}
		return rec, nil, nil
	case typeKeyDestroyed:
		var t keystore.Tombstone
		if err := json.Unmarshal(e.Data, &t); err != nil {
			return keystore.Record{}, nil, fmt.Errorf("%w: tombstone of key %s: %v", domain.ErrCorrupt, id, err)
		}
		return keystore.Record{}, &t, nil
	}
	return keystore.Record{}, nil, fmt.Errorf("%w: key stream %s ends with %q", domain.ErrCorrupt, e.StreamID, e.EventType)
}

// Generation probes the generations in order: a base has one per erasure
// that destroyed it, and the key store caches the current one.
func (b *keyBackend) Generation(ctx context.Context, base string) (uint64, error) {
	for gen := uint64(1); ; gen++ {
		e, err := b.last(ctx, b.keyStream(fmt.Sprintf("%s#%d", base, gen)))
		if err != nil {
			return 0, err
		}
		if e == nil {
			return gen - 1, nil
		}
	}
}

type keyListed struct {
	ID string `json:"id"`
}

type keysDestroyed struct {
	IDs       []string `json:"ids"`
	ErasureID string   `json:"erasure_id"`
}

// Create lists the key in its application's index first, then writes it
// expecting no stream: a crash between the two leaves a listed key that
// does not exist (an erasure's Destroy gives it a tombstone, harmlessly),
// never a key an erasure cannot find.
func (b *keyBackend) Create(ctx context.Context, _ string, _ uint64, id string, rec keystore.Record) error {
	if _, err := b.appendRaw(ctx, b.indexStream(id), typeKeyListed, kurrentdb.Any{}, keyListed{ID: id}); err != nil {
		return err
	}
	_, err := b.appendRaw(ctx, b.keyStream(id), typeKeyCreated, kurrentdb.NoStream{}, rec)
	if wrongVersion(err) {
		return fmt.Errorf("%w: %s", keystore.ErrKeyExists, id)
	}
	return err
}

// Keys reads the application's index: the keys listed there, less those
// ever destroyed (a refused Create lists an id again, after its tombstone;
// a destroyed id never lives again).
func (b *keyBackend) Keys(ctx context.Context, prefix string) ([]string, error) {
	listed, gone, err := b.readIndex(ctx, b.indexStream(prefix))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(listed))
	for id := range listed {
		if strings.HasPrefix(id, prefix) && !gone[id] {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

// KeyIDs lists every key of the applications named, live or destroyed
// (keystore.KeyLister, for a copy).
func (b *keyBackend) KeyIDs(ctx context.Context, applications []string) ([]string, error) {
	var out []string
	for _, app := range applications {
		listed, gone, err := b.readIndex(ctx, b.indexStream(app+"/"))
		if err != nil {
			return nil, err
		}
		for id := range gone {
			listed[id] = true
		}
		for id := range listed {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

// readIndex reads an application's index: the ids listed, and those
// destroyed.
func (b *keyBackend) readIndex(ctx context.Context, stream string) (listed, gone map[string]bool, err error) {
	listed, gone = map[string]bool{}, map[string]bool{}
	var bad error
	for from := uint64(0); ; {
		n := 0
		err := b.s.readEach(ctx, "read a key index", func(ctx context.Context, c *kurrentdb.Client) (*kurrentdb.ReadStream, error) {
			return c.ReadStream(ctx, stream, kurrentdb.ReadStreamOptions{Direction: kurrentdb.Forwards, From: kurrentdb.Revision(from)}, 4096)
		}, func(e *kurrentdb.RecordedEvent) {
			n++
			from = e.EventNumber + 1
			switch e.EventType {
			case typeKeyListed:
				var l keyListed
				if err := json.Unmarshal(e.Data, &l); err != nil {
					bad = fmt.Errorf("%w: %s@%d: %v", domain.ErrCorrupt, stream, e.EventNumber, err)
				}
				listed[l.ID] = true
			case typeKeysDestroyed:
				var d keysDestroyed
				if err := json.Unmarshal(e.Data, &d); err != nil {
					bad = fmt.Errorf("%w: %s@%d: %v", domain.ErrCorrupt, stream, e.EventNumber, err)
				}
				for _, id := range d.IDs {
					gone[id] = true
				}
			}
		})
		if errors.Is(err, domain.ErrStreamNotFound) {
			return listed, gone, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if bad != nil {
			return nil, nil, bad
		}
		if n < 4096 {
			return listed, gone, nil
		}
	}
}

// Destroy appends each key's tombstone at its stream's revision (a key
// created meanwhile is read again and destroyed too), sets the stream's
// $tb past the key, then marks the keys destroyed in their applications'
// indexes. Keys are destroyed destroyParallel at a time: an application's
// erasure under --erasure-scope message destroys one key per message, three
// round trips each. Run again after a crash, it finishes what is left: a
// key with a tombstone has its $tb set again.
func (b *keyBackend) Destroy(ctx context.Context, ids []string, t keystore.Tombstone) error {
	errs := make([]error, len(ids))
	sem := make(chan struct{}, destroyParallel)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = b.destroyAndTruncate(ctx, id, t)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	byIndex := map[string][]string{}
	for _, id := range ids {
		byIndex[b.indexStream(id)] = append(byIndex[b.indexStream(id)], id)
	}
	for stream, ids := range byIndex {
		if _, err := b.appendRaw(ctx, stream, typeKeysDestroyed, kurrentdb.Any{}, keysDestroyed{IDs: ids, ErasureID: t.ErasureID}); err != nil {
			return fmt.Errorf("mark destroyed keys in %s: %w", stream, err)
		}
	}
	return nil
}

// destroyParallel bounds the keys one Destroy has in flight.
const destroyParallel = 16

func (b *keyBackend) destroyAndTruncate(ctx context.Context, id string, t keystore.Tombstone) error {
	rev, err := b.destroyOne(ctx, id, t)
	if err != nil {
		return fmt.Errorf("destroy data key %s: %w", id, err)
	}
	if err := b.truncate(ctx, id, rev); err != nil {
		return fmt.Errorf("destroy data key %s: truncate its stream: %w", id, err)
	}
	return nil
}

// truncate sets key id's stream's $tb to rev: the server reads nothing
// before it again, and its scavenge deletes it.
func (b *keyBackend) truncate(ctx context.Context, id string, rev uint64) error {
	var meta kurrentdb.StreamMetadata
	meta.SetTruncateBefore(rev)
	return b.s.call(ctx, "truncate a key stream", func(ctx context.Context, c *kurrentdb.Client) error {
		_, err := c.SetStreamMetadata(ctx, b.keyStream(id), kurrentdb.AppendToStreamOptions{}, meta)
		return err
	})
}

// destroyOne answers the revision of key id's tombstone, appending it
// unless there is one.
func (b *keyBackend) destroyOne(ctx context.Context, id string, t keystore.Tombstone) (uint64, error) {
	for {
		e, err := b.last(ctx, b.keyStream(id))
		if err != nil {
			return 0, err
		}
		var state kurrentdb.StreamState = kurrentdb.NoStream{}
		if e != nil {
			if e.EventType == typeKeyDestroyed {
				return e.EventNumber, nil
			}
			state = kurrentdb.Revision(e.EventNumber)
		}
		res, err := b.appendRaw(ctx, b.keyStream(id), typeKeyDestroyed, state, t)
		if wrongVersion(err) {
			continue // written meanwhile (created, or destroyed by another node)
		}
		if err != nil {
			return 0, err
		}
		return res.NextExpectedVersion, nil
	}
}

// Rewrap appends the key re-wrapped at its stream's revision and sets the
// stream's $tb past the copy the old master key wrapped.
func (b *keyBackend) Rewrap(ctx context.Context, id string, rec keystore.Record) error {
	for {
		e, err := b.last(ctx, b.keyStream(id))
		if err != nil {
			return err
		}
		if e == nil || e.EventType != typeKeyCreated {
			return nil // never made, or destroyed
		}
		res, err := b.appendRaw(ctx, b.keyStream(id), typeKeyCreated, kurrentdb.Revision(e.EventNumber), rec)
		if wrongVersion(err) {
			continue
		}
		if err != nil {
			return err
		}
		return b.truncate(ctx, id, res.NextExpectedVersion)
	}
}

func (b *keyBackend) SetMaster(ctx context.Context, id string) error {
	_, err := b.appendRaw(ctx, b.root+"master", typeMasterRecorded, kurrentdb.Any{}, masterRecorded{MasterID: id})
	return err
}

// Prefix is the stream prefix of the ledger on the server.
func (s *Store) Prefix() string { return s.opts.Prefix }
