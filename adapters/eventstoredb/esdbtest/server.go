// Package esdbtest is an in-process emulator of the EventStoreDB/KurrentDB
// gRPC protocol, for tests: the official client talks to it over loopback as
// it would to a server. It implements what hookledger's adapter uses (append,
// stream and $all reads, filtered catch-up subscriptions to $all, server
// features) over an in-memory log and behaves as the real server does on the
// points that matter to a client: `created` metadata on every event, a
// stream's $tb (truncate-before) honoured by its reads,
// confirmation first on subscriptions, inclusive reads and exclusive
// subscription starts, sparse positions, reads from a position that is not an
// event's refused, wrong-expected-version answers, stream not found,
// checkpoints while filtering, system events at the start of $all, and a
// maximum append size. It injects faults: unavailable, delay, dropped
// subscriptions, stop and restart on the same port with the data kept.
//
// It proves the adapter speaks the protocol; it does not prove a real
// server's semantics (the conformance suite runs against one when
// HOOKLEDGER_TEST_ESDB_URL is set).
package esdbtest

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/gossip"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/serverfeatures"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/shared"
	api "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Options configure an emulator.
type Options struct {
	// MaxAppendSize is the server's limit on one append's total event bytes
	// (data + metadata); 0 means the real server's default, 1 MiB.
	MaxAppendSize int
	// CheckpointEvery is how many events a filtered subscription scans between
	// checkpoints when the client asks for none (0: 32, the client's window).
	CheckpointEvery int
	// LiveEndCheckpoint makes a filtered subscription send the end of the log
	// as a checkpoint (E, 0) when it goes live, as KurrentDB 25.0.0 does
	// (KurrentDB#4970; fixed in 25.0.1 and 24.10.5). A client that resumes
	// from (E, E) instead of (E, 0) skips the next event, written at E.
	LiveEndCheckpoint bool
	// IdempotentNoPosition answers an idempotent retry with success but no
	// position, as servers may: the client must find the events itself.
	IdempotentNoPosition bool
	// TLS serves over TLS with a self-signed certificate (CAFile); TLSDir is
	// where the certificate is written (default: a temporary directory).
	TLS    bool
	TLSDir string
	// Users, when set, requires HTTP basic credentials (user -> password) on
	// every streams call (the client sends them over TLS only).
	Users map[string]string
	// AllReaders are the users who may read and subscribe to $all (a real
	// server: $admins by default). Default: "admin".
	AllReaders []string
	// LastStreamPositionOnReads ends every read with a last-stream-position
	// message, which the client does not know (it panics "unreachable
	// code"): a server newer than its client.
	LastStreamPositionOnReads bool
}

// ledger is the emulated database: one per server, or one for all the nodes
// of a cluster (replication is instantaneous here).
type ledger struct {
	mu      sync.Mutex
	log     []*record
	streams map[string][]*record
	byPos   map[uint64]*record
	next    uint64
	changed chan struct{} // closed and replaced on every append
}

func newLedger() *ledger {
	l := &ledger{streams: map[string][]*record{}, byPos: map[uint64]*record{}, changed: make(chan struct{})}
	// A real $all starts with system records; clients must filter them out.
	l.appendLocked("$epoch-information", "$epoch", []byte(`{"epochNumber":0}`), nil, [16]byte{1})
	l.appendLocked("$settings", "$settings", []byte(`{"$userStreamAcl":{}}`), nil, [16]byte{2})
	return l
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	opts      Options
	addr      string
	tlsConfig *tls.Config
	caFile    string

	*ledger // the log; shared by the nodes of a Cluster
	cluster *Cluster
	node    int

	grpcMu  sync.Mutex
	grpc    *grpc.Server
	running bool

	unavailable        atomic.Bool
	delay              atomic.Int64
	dropGen            atomic.Int64
	timeoutsAfterWrite atomic.Int64
	appends            atomic.Int64
	subsOpen           atomic.Int64
}

type record struct {
	id          [16]byte
	stream      string
	revision    uint64
	pos         uint64
	typ         string
	contentType string
	created     int64 // .NET ticks since the Unix epoch
	data, meta  []byte
}

// Start starts an emulator on 127.0.0.1 with a fresh log holding the system
// events a new server writes first.
func Start(opts Options) (*Server, error) {
	if opts.MaxAppendSize <= 0 {
		opts.MaxAppendSize = 1 << 20
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 32
	}
	return start(opts, newLedger(), nil, 0)
}

func start(opts Options, l *ledger, c *Cluster, node int) (*Server, error) {
	if opts.MaxAppendSize <= 0 {
		opts.MaxAppendSize = 1 << 20
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 32
	}
	s := &Server{opts: opts, ledger: l, cluster: c, node: node}
	if opts.TLS {
		dir := opts.TLSDir
		if dir == "" {
			d, err := os.MkdirTemp("", "esdbtest-tls")
			if err != nil {
				return nil, err
			}
			dir = d
		}
		cfg, ca, err := newTLS(dir)
		if err != nil {
			return nil, err
		}
		s.tlsConfig, s.caFile = cfg, ca
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// URL is the connection string for the official client.
func (s *Server) URL() string {
	if s.tlsConfig != nil {
		return "esdb://" + s.addr + "?tls=true&tlsCAFile=" + url.QueryEscape(s.caFile) + "&maxDiscoverAttempts=3&discoveryInterval=100&gossipTimeout=2"
	}
	return "esdb://" + s.addr + "?tls=false&maxDiscoverAttempts=3&discoveryInterval=100&gossipTimeout=2"
}

// URLAs is URL with the credentials of user.
func (s *Server) URLAs(user, password string) string {
	return strings.Replace(s.URL(), "esdb://", "esdb://"+url.PathEscape(user)+":"+url.PathEscape(password)+"@", 1)
}

// CAFile is the certificate a TLS emulator serves ("" without TLS).
func (s *Server) CAFile() string { return s.caFile }

// Addr is the host:port the emulator listens on (kept across restarts).
func (s *Server) Addr() string { return s.addr }

func (s *Server) serve(ln net.Listener) {
	g := grpc.NewServer(s.serverOptions()...)
	api.RegisterStreamsServer(g, &streams{s: s})
	serverfeatures.RegisterServerFeaturesServer(g, &features{})
	if s.cluster != nil {
		gossip.RegisterGossipServer(g, &gossipService{s: s})
	}
	s.grpcMu.Lock()
	s.grpc, s.running = g, true
	s.grpcMu.Unlock()
	go g.Serve(ln)
}

// Stop closes the listener and every connection, as a crashed server would.
// The log is kept for Restart.
func (s *Server) Stop() {
	s.grpcMu.Lock()
	g := s.grpc
	s.running = false
	s.grpcMu.Unlock()
	if g != nil {
		g.Stop()
	}
}

// Restart listens again on the same address with the same log.
func (s *Server) Restart() error {
	s.Stop()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after Stop
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("esdbtest: relisten on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

// SetUnavailable makes every call answer Unavailable (true) or serve again.
func (s *Server) SetUnavailable(on bool) { s.unavailable.Store(on) }

// TimeoutAfterWrite makes the next n appends write their events and then
// answer DeadlineExceeded, as a server whose write timed out waiting for
// replication although it was committed: a client must retry with the same
// event ids (idempotent) and never report such a write as failed.
func (s *Server) TimeoutAfterWrite(n int) { s.timeoutsAfterWrite.Store(int64(n)) }

// SetDelay delays every call by d (0: none).
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// DropSubscriptions ends every open subscription with an error, as a server
// does when it sheds a slow subscriber or a node steps down.
func (s *Server) DropSubscriptions() { s.dropGen.Add(1); s.kick() }

// OpenSubscriptions is how many subscriptions are being served.
func (s *Server) OpenSubscriptions() int { return int(s.subsOpen.Load()) }

// Appends counts append calls that reached the server.
func (s *Server) Appends() int { return int(s.appends.Load()) }

// Events returns how many events of non-system streams the log holds.
func (s *Server) Events() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if !strings.HasPrefix(r.stream, "$") {
			n++
		}
	}
	return n
}

func (s *Server) kick() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// appendLocked writes one event; positions are sparse log offsets, as on a
// real server (a record's size past the previous one).
func (s *ledger) appendLocked(stream, typ string, data, meta []byte, id [16]byte) *record {
	revs := s.streams[stream]
	r := &record{id: id, stream: stream, revision: uint64(len(revs)), pos: s.next, typ: typ, contentType: "application/octet-stream",
		created: time.Now().UnixNano() / 100, data: data, meta: meta}
	s.next += uint64(96 + len(stream) + len(typ) + len(data) + len(meta))
	s.log = append(s.log, r)
	s.byPos[r.pos] = r
	s.streams[stream] = append(revs, r)
	return r
}

func (s *Server) gate(ctx context.Context) error {
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	if s.unavailable.Load() {
		return status.Error(codes.Unavailable, "esdbtest: server unavailable")
	}
	return nil
}

type features struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

// GetSupportedMethods answers as a 23.10 node; the client refuses versions
// that are not plain major.minor.patch.
func (*features) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	return &serverfeatures.SupportedMethods{EventStoreServerVersion: "23.10.0", Methods: []*serverfeatures.SupportedMethod{
		{ServiceName: "event_store.client.streams.streams", MethodName: "read"},
		{ServiceName: "event_store.client.streams.streams", MethodName: "append"},
	}}, nil
}

type streams struct {
	api.UnimplementedStreamsServer
	s *Server
}

func uuidOf(u *shared.UUID) ([16]byte, error) {
	var id [16]byte
	if st := u.GetStructured(); st != nil {
		binary.BigEndian.PutUint64(id[:8], uint64(st.MostSignificantBits))
		binary.BigEndian.PutUint64(id[8:], uint64(st.LeastSignificantBits))
		return id, nil
	}
	return id, errors.New("esdbtest: only structured UUIDs are emulated")
}

func protoUUID(id [16]byte) *shared.UUID {
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: int64(binary.BigEndian.Uint64(id[:8])), LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

func (st *streams) Append(srv api.Streams_AppendServer) error {
	s := st.s
	if err := s.gate(srv.Context()); err != nil {
		return err
	}
	if err := s.authorize(srv.Context(), false); err != nil {
		return err
	}
	s.appends.Add(1)
	if err := s.notLeader(srv.Context()); err != nil {
		return err
	}
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "esdbtest: the first append message must carry the options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	type proposed struct {
		id         [16]byte
		typ, ctype string
		data, meta []byte
	}
	var evs []proposed
	size := 0
	for {
		m, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		p := m.GetProposedMessage()
		if p == nil {
			return status.Error(codes.InvalidArgument, "esdbtest: expected a proposed message")
		}
		id, err := uuidOf(p.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		typ, ok := p.GetMetadata()["type"]
		if !ok || typ == "" {
			return status.Error(codes.InvalidArgument, "esdbtest: an event needs metadata \"type\"")
		}
		evs = append(evs, proposed{id: id, typ: typ, ctype: p.GetMetadata()["content-type"], data: p.GetData(), meta: p.GetCustomMetadata()})
		// As servers since 24.10.5 count an append: data, metadata and twice
		// the event type's length.
		size += len(p.GetData()) + len(p.GetCustomMetadata()) + 2*len(typ)
	}
	if size > s.opts.MaxAppendSize {
		// As the server does: an RPC exception the client cannot map.
		srv.SetTrailer(metadata.Pairs("exception", "maximum-append-size-exceeded", "maximum-append-size", strconv.Itoa(s.opts.MaxAppendSize)))
		return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", s.opts.MaxAppendSize)
	}
	s.mu.Lock()
	revs := s.streams[stream]
	exists := len(revs) > 0
	var last uint64
	if exists {
		last = revs[len(revs)-1].revision
	}
	// Idempotent retry: the same events already written right after the
	// expected revision answer success again, as on a real server.
	if start, ok := expectedStart(opts); ok && len(evs) > 0 && int(start)+len(evs) <= len(revs) {
		same := true
		for i, e := range evs {
			if revs[int(start)+i].id != e.id {
				same = false
				break
			}
		}
		if same {
			r := revs[int(start)+len(evs)-1]
			s.mu.Unlock()
			if s.opts.IdempotentNoPosition {
				return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
					CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: r.revision},
					PositionOption:        &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
				}}})
			}
			return srv.SendAndClose(success(r))
		}
	}
	if !expectedHolds(opts, last, exists) {
		s.mu.Unlock()
		return srv.SendAndClose(wrongVersion(opts, last, exists))
	}
	var r *record
	for _, e := range evs {
		r = s.appendLocked(stream, e.typ, e.data, e.meta, e.id)
		if e.ctype != "" {
			r.contentType = e.ctype
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	if r != nil && s.timeoutsAfterWrite.Add(-1) >= 0 {
		return status.Error(codes.DeadlineExceeded, "esdbtest: the write timed out waiting for replication (it was committed)")
	}
	if r == nil { // an empty append: the real server answers success with no position
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
			CurrentRevisionOption: &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}},
			PositionOption:        &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
		}}})
	}
	return srv.SendAndClose(success(r))
}

// expectedStart is the revision the appended events would take for an exact
// or no-stream expectation (where an idempotent retry can be recognised).
func expectedStart(o *api.AppendReq_Options) (uint64, bool) {
	switch e := o.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_NoStream:
		return 0, true
	case *api.AppendReq_Options_Revision:
		return e.Revision + 1, true
	}
	return 0, false
}

func expectedHolds(o *api.AppendReq_Options, last uint64, exists bool) bool {
	switch e := o.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_NoStream:
		return !exists
	case *api.AppendReq_Options_StreamExists:
		return exists
	case *api.AppendReq_Options_Revision:
		return exists && last == e.Revision
	default:
		return true
	}
}

func success(r *record) *api.AppendResp {
	return &api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: r.revision},
		PositionOption:        &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: r.pos, PreparePosition: r.pos}},
	}}}
}

func wrongVersion(o *api.AppendReq_Options, last uint64, exists bool) *api.AppendResp {
	w := &api.AppendResp_WrongExpectedVersion{}
	if exists {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: last}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: last}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	}
	switch e := o.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case *api.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
	case *api.AppendReq_Options_Revision:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: e.Revision}
	default:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
	}
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

func readEvent(r *record) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id: protoUUID(r.id), StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision: r.revision, PreparePosition: r.pos, CommitPosition: r.pos,
			// Without "created" the official client calls log.Fatalf.
			Metadata:       map[string]string{"type": r.typ, "content-type": r.contentType, "created": strconv.FormatInt(r.created, 10)},
			CustomMetadata: r.meta, Data: r.data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.pos},
	}}}
}

func (st *streams) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	s := st.s
	if err := s.gate(srv.Context()); err != nil {
		return err
	}
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "esdbtest: read without options")
	}
	if err := s.authorize(srv.Context(), o.GetAll() != nil); err != nil {
		return err
	}
	if o.GetSubscription() != nil {
		if o.GetAll() == nil {
			return status.Error(codes.Unimplemented, "esdbtest: only subscriptions to $all are emulated")
		}
		return st.subscribeAll(o, srv)
	}
	count := o.GetCount()
	backward := o.GetReadDirection() == api.ReadReq_Options_Backwards
	var out []*record
	s.mu.Lock()
	if so := o.GetStream(); so != nil {
		name := string(so.GetStreamIdentifier().GetStreamName())
		revs := s.streams[name]
		if len(revs) == 0 {
			s.mu.Unlock()
			return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
				StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}}}})
		}
		// Events before the stream's $tb are not read, as on a real server
		// (whose scavenge then deletes them).
		tb := s.truncateBeforeLocked(name)
		if backward {
			i := len(revs) - 1
			if r, ok := so.GetRevisionOption().(*api.ReadReq_Options_StreamOptions_Revision); ok && r.Revision < uint64(len(revs)) {
				i = int(r.Revision)
			}
			for ; i >= tb && uint64(len(out)) < count; i-- {
				out = append(out, revs[i])
			}
		} else {
			i := 0
			switch r := so.GetRevisionOption().(type) {
			case *api.ReadReq_Options_StreamOptions_Revision:
				i = int(min(r.Revision, uint64(len(revs))))
			case *api.ReadReq_Options_StreamOptions_End:
				i = len(revs)
			}
			for i = max(i, tb); i < len(revs) && uint64(len(out)) < count; i++ {
				out = append(out, revs[i])
			}
		}
	} else if ao := o.GetAll(); ao != nil {
		start, err := s.allStartLocked(ao, backward)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		if backward {
			for i := start - 1; i >= 0 && uint64(len(out)) < count; i-- {
				out = append(out, s.log[i])
			}
		} else {
			for i := start; i < len(s.log) && uint64(len(out)) < count; i++ {
				out = append(out, s.log[i])
			}
		}
	} else {
		s.mu.Unlock()
		return status.Error(codes.InvalidArgument, "esdbtest: read names neither a stream nor $all")
	}
	s.mu.Unlock()
	for _, r := range out {
		if err := srv.Send(readEvent(r)); err != nil {
			return err
		}
	}
	if s.opts.LastStreamPositionOnReads {
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_LastStreamPosition{LastStreamPosition: 0}})
	}
	return nil
}

// truncateBeforeLocked answers the $tb of stream's metadata (its "$$"
// stream's last event), 0 when none.
func (s *Server) truncateBeforeLocked(stream string) int {
	meta := s.streams["$$"+stream]
	if len(meta) == 0 {
		return 0
	}
	var m struct {
		TB *uint64 `json:"$tb"`
	}
	if json.Unmarshal(meta[len(meta)-1].data, &m) != nil || m.TB == nil {
		return 0
	}
	return int(min(*m.TB, uint64(len(s.streams[stream]))))
}

// allStartLocked returns the index in the log a $all read starts at: for a
// forward read the first record at or after the position (inclusive), for a
// backward read the first record not read (records before it are). A
// position that is not a record's is refused, as the real server does.
func (s *Server) allStartLocked(ao *api.ReadReq_Options_AllOptions, backward bool) (int, error) {
	switch p := ao.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_End:
		return len(s.log), nil
	case *api.ReadReq_Options_AllOptions_Position:
		pos := p.Position.GetCommitPosition()
		if pos == s.next {
			return len(s.log), nil
		}
		r, ok := s.byPos[pos]
		if !ok || p.Position.GetPreparePosition() != pos {
			return 0, status.Errorf(codes.InvalidArgument, "Invalid position: %d/%d is not the position of an event", pos, p.Position.GetPreparePosition())
		}
		i := s.indexOf(r)
		return i, nil
	default:
		if backward {
			return len(s.log), nil
		}
		return 0, nil
	}
}

func checkpoint(commit, prepare uint64) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{CommitPosition: commit, PreparePosition: prepare}}}
}

// postPosition is where the record after r starts (the log's end for the last).
func (s *Server) postPosition(r *record) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.indexOf(r) + 1; i < len(s.log) {
		return s.log[i].pos
	}
	return s.next
}

func (s *Server) indexOf(r *record) int {
	lo, hi := 0, len(s.log)
	for lo < hi {
		m := (lo + hi) / 2
		if s.log[m].pos < r.pos {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// filter is a subscription's server-side filter.
type filter struct {
	on       bool
	byStream bool
	prefixes []string
	re       *regexp.Regexp
	every    int
}

func (f filter) match(r *record) bool {
	if !f.on {
		return true
	}
	subject := r.typ
	if f.byStream {
		subject = r.stream
	}
	if f.re != nil {
		return f.re.MatchString(subject)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}

var subSeq atomic.Int64

func (st *streams) subscribeAll(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	s := st.s
	var f filter
	if fo := o.GetFilter(); fo != nil {
		f.on = true
		expr := fo.GetEventType()
		if se := fo.GetStreamIdentifier(); se != nil {
			f.byStream, expr = true, se
		}
		f.prefixes = expr.GetPrefix()
		if expr.GetRegex() != "" {
			re, err := regexp.Compile(expr.GetRegex())
			if err != nil {
				return status.Errorf(codes.InvalidArgument, "esdbtest: bad filter regex: %v", err)
			}
			f.re = re
		}
		window := s.opts.CheckpointEvery
		if m := fo.GetMax(); m > 0 {
			window = int(m)
		}
		f.every = window * int(max(1, fo.GetCheckpointIntervalMultiplier()))
	}
	s.mu.Lock()
	var next int
	switch p := o.GetAll().GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_End:
		next = len(s.log)
	case *api.ReadReq_Options_AllOptions_Position:
		// As 24.2+ servers: a subscription starts after the position, comparing
		// (commit, prepare) pairs; a checkpoint's post-position (P, 0) is
		// before the event written at P, whose position is (P, P).
		c, pp := p.Position.GetCommitPosition(), p.Position.GetPreparePosition()
		if c > s.next || pp > c {
			s.mu.Unlock()
			return status.Errorf(codes.InvalidArgument, "Invalid position: %d/%d is beyond the end of the log", c, pp)
		}
		next = sort.Search(len(s.log), func(i int) bool {
			r := s.log[i].pos
			return r > c || (r == c && r > pp)
		})
	default:
		next = 0
	}
	s.mu.Unlock()
	s.subsOpen.Add(1)
	defer s.subsOpen.Add(-1)
	gen := s.dropGen.Load()
	id := fmt.Sprintf("esdbtest-sub-%d", subSeq.Add(1))
	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: id}}}); err != nil {
		return err
	}
	scanned, caughtUp := 0, false
	for {
		s.mu.Lock()
		batch := s.log[next:min(len(s.log), next+256)]
		wait := s.changed
		s.mu.Unlock()
		for _, r := range batch {
			if s.dropGen.Load() != gen {
				return status.Error(codes.Unavailable, "esdbtest: subscription dropped")
			}
			next++
			scanned++
			if f.match(r) {
				if err := srv.Send(readEvent(r)); err != nil {
					return err
				}
			}
			if f.on && scanned >= f.every {
				scanned = 0
				// Real servers checkpoint at the record's post-position with
				// prepare 0 (AllReader: nextPos = TFPos(RecordPostPosition, 0)).
				if err := srv.Send(checkpoint(s.postPosition(r), 0)); err != nil {
					return err
				}
			}
		}
		if len(batch) > 0 {
			continue
		}
		if !caughtUp {
			caughtUp = true
			if f.on && s.opts.LiveEndCheckpoint {
				s.mu.Lock()
				end := s.next
				s.mu.Unlock()
				if err := srv.Send(checkpoint(end, 0)); err != nil {
					return err
				}
			}
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-wait:
			if s.dropGen.Load() != gen {
				return status.Error(codes.Unavailable, "esdbtest: subscription dropped")
			}
		case <-srv.Context().Done():
			return status.FromContextError(srv.Context().Err()).Err()
		}
	}
}
