package query

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/iceberg"
)

// FlightCommand is the JSON command of a Flight descriptor (CMD type):
// a range of a topic. A PATH descriptor [topic] means the whole topic.
// to_offset is exclusive; -1 or absent ends at the high watermark.
type FlightCommand struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions,omitempty"`
	FromOffset *int64  `json:"from_offset,omitempty"`
	ToOffset   *int64  `json:"to_offset,omitempty"`
	// Snapshot reads the topic's Iceberg table as of a snapshot: its id,
	// an RFC 3339 time (the snapshot current then) or "current".
	Snapshot string `json:"snapshot,omitempty"`
	// IsolationLevel is read_committed (the default: committed records
	// only, up to the last stable offset) or read_uncommitted (every
	// record up to the high watermark, transaction markers included).
	IsolationLevel string `json:"isolation_level,omitempty"`
}

// flightTicket is what DoGet reads: a resolved plan.
type flightTicket struct {
	Topic string           `json:"topic"`
	Parts []PartitionRange `json:"parts"`
	// Snapshot is the table snapshot read (0: the live log).
	Snapshot        int64 `json:"snapshot,omitempty"`
	ReadUncommitted bool  `json:"read_uncommitted,omitempty"`
}

// FlightService serves topic ranges over Arrow Flight: ListFlights lists
// the topics, GetFlightInfo resolves a range (one endpoint, a ticket
// holding the resolved offsets), DoGet streams it.
type FlightService struct {
	flight.BaseFlightServer
	q    *Planner
	auth FlightAuth // nil: every caller may read every topic
}

// NewFlightService serves ranges read with q, to the callers a allows
// (nil: to everyone).
func NewFlightService(q *Planner, a FlightAuth) *FlightService { return &FlightService{q: q, auth: a} }

// mayRead checks Read on topic for the call's caller: PermissionDenied
// if the ACLs deny it.
func (f *FlightService) mayRead(ctx context.Context, call, topic string) error {
	if f.auth == nil {
		return nil
	}
	c := auth.CallerFrom(ctx)
	if !f.auth.Allow(c.Principal, c.Host, call, kmsg.ACLOperationRead, auth.Topic, topic) {
		return status.Errorf(codes.PermissionDenied, "%s may not read topic %q", c.Principal, topic)
	}
	return nil
}

// Handshake ends the handshake stream; the login itself (Basic
// credentials for a session token) is the interceptor's.
func (f *FlightService) Handshake(hs flight.FlightService_HandshakeServer) error {
	for {
		if _, err := hs.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (f *FlightService) descriptorRange(d *flight.FlightDescriptor) (Range, error) {
	switch d.GetType() {
	case flight.DescriptorPATH:
		if len(d.Path) != 1 || d.Path[0] == "" {
			return Range{}, status.Error(codes.InvalidArgument, "a path descriptor is [topic]")
		}
		return AllOffsets(d.Path[0]), nil
	case flight.DescriptorCMD:
		var c FlightCommand
		if err := json.Unmarshal(d.Cmd, &c); err != nil || c.Topic == "" {
			return Range{}, status.Errorf(codes.InvalidArgument, "command: want JSON {\"topic\":..., \"partitions\":[...], \"from_offset\":N, \"to_offset\":N}")
		}
		r := AllOffsets(c.Topic)
		r.Partitions = c.Partitions
		if c.FromOffset != nil {
			r.FromOffset = *c.FromOffset
		}
		if c.ToOffset != nil {
			r.ToOffset = *c.ToOffset
		}
		switch c.IsolationLevel {
		case "", "read_committed":
		case "read_uncommitted":
			r.ReadUncommitted = true
		default:
			return Range{}, status.Errorf(codes.InvalidArgument, "isolation_level %q: want read_committed or read_uncommitted", c.IsolationLevel)
		}
		if c.Snapshot != "" {
			sel, err := iceberg.ParseSnapshotSelector(c.Snapshot)
			if err != nil {
				return Range{}, status.Error(codes.InvalidArgument, err.Error())
			}
			r.Snapshot = &sel
		}
		return r, nil
	}
	return Range{}, status.Error(codes.InvalidArgument, "unknown descriptor type")
}

func grpcErr(err error) error {
	switch {
	case errors.Is(err, ErrUnknownTopic), errors.Is(err, iceberg.ErrNoTable), errors.Is(err, iceberg.ErrNoSnapshot):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrEmptyRange):
		return status.Error(codes.OutOfRange, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

func (f *FlightService) info(d *flight.FlightDescriptor, p *Plan, records int64) (*flight.FlightInfo, error) {
	t, err := json.Marshal(flightTicket{Topic: p.Topic, Parts: p.Parts, Snapshot: p.Snapshot, ReadUncommitted: p.ReadUncommitted})
	if err != nil {
		return nil, err
	}
	return &flight.FlightInfo{
		Schema:           flight.SerializeSchema(Schema(), memory.DefaultAllocator),
		FlightDescriptor: d,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: t}}},
		TotalRecords:     records,
		TotalBytes:       -1,
		Ordered:          true,
	}, nil
}

// ListFlights lists one flight per topic (the whole topic).
func (f *FlightService) ListFlights(_ *flight.Criteria, fs flight.FlightService_ListFlightsServer) error {
	ctx := fs.Context()
	topics, err := f.q.Topics(ctx)
	if err != nil {
		return grpcErr(err)
	}
	c := auth.CallerFrom(ctx)
	for _, t := range topics {
		if f.auth != nil && !f.auth.Visible(c.Principal, c.Host, kmsg.ACLOperationDescribe, auth.Topic, t) {
			continue
		}
		d := &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{t}}
		p, err := f.q.Plan(ctx, AllOffsets(t))
		if errors.Is(err, ErrEmptyRange) {
			p, err = &Plan{Topic: t}, nil
		}
		if err != nil {
			return grpcErr(err)
		}
		fi, err := f.info(d, p, p.Records)
		if err != nil {
			return err
		}
		if err := fs.Send(fi); err != nil {
			return err
		}
	}
	return nil
}

// GetFlightInfo resolves a range.
func (f *FlightService) GetFlightInfo(ctx context.Context, d *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	r, err := f.descriptorRange(d)
	if err != nil {
		return nil, err
	}
	if err := f.mayRead(ctx, "GetFlightInfo", r.Topic); err != nil {
		return nil, err
	}
	p, err := f.q.Plan(ctx, r)
	if err != nil {
		return nil, grpcErr(err)
	}
	return f.info(d, p, p.Records)
}

// GetSchema is the Arrow schema of every range.
func (f *FlightService) GetSchema(_ context.Context, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	return &flight.SchemaResult{Schema: flight.SerializeSchema(Schema(), memory.DefaultAllocator)}, nil
}

// DoGet streams the ticket's range.
func (f *FlightService) DoGet(tkt *flight.Ticket, fs flight.FlightService_DoGetServer) error {
	var t flightTicket
	if err := json.Unmarshal(tkt.GetTicket(), &t); err != nil || t.Topic == "" {
		return status.Error(codes.InvalidArgument, "bad ticket: use one from GetFlightInfo")
	}
	ctx := fs.Context()
	if err := f.mayRead(ctx, "DoGet", t.Topic); err != nil {
		return err
	}
	var p *Plan
	var err error
	if t.Snapshot != 0 {
		p, err = f.q.planSnapshotParts(ctx, t.Topic, t.Snapshot, t.Parts, t.ReadUncommitted)
	} else if p, err = f.q.PlanParts(ctx, t.Topic, t.Parts); err == nil {
		p.ReadUncommitted = t.ReadUncommitted
	}
	if err != nil {
		return grpcErr(err)
	}
	s, err := f.q.Scan(ctx, p, nil)
	if err != nil {
		return grpcErr(err)
	}
	defer s.Close()
	w := flight.NewRecordWriter(fs, ipc.WithSchema(s.Schema()))
	defer w.Close()
	for {
		rec, err := s.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return grpcErr(err)
		}
		err = w.Write(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
}

// PlanParts is a plan of already resolved partition ranges (a ticket).
func (q *Planner) PlanParts(ctx context.Context, topic string, parts []PartitionRange) (*Plan, error) {
	md, err := kadm.NewClient(q.cfg.Client).Metadata(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownTopic, topic)
	}
	p := &Plan{Topic: topic, topicID: td.ID, leaders: map[int32]int32{}}
	for _, pr := range parts {
		pd, ok := td.Partitions[pr.Partition]
		if !ok {
			return nil, fmt.Errorf("%w: topic %q has no partition %d", ErrUnknownTopic, topic, pr.Partition)
		}
		p.leaders[pr.Partition] = pd.Leader
		if pr.Start < pr.End {
			p.Parts = append(p.Parts, pr)
			p.Records += pr.End - pr.Start
		}
	}
	return p, nil
}

// FlightServer is a running Flight endpoint.
type FlightServer struct {
	srv  flight.Server
	done chan error
}

// FlightOptions secure a Flight endpoint.
type FlightOptions struct {
	// TLS serves over TLS (nil: plaintext); a verified client certificate
	// is the caller's principal when it sends no other credential.
	TLS *tls.Config
	// Auth authenticates every call and authorizes reads (nil: open).
	Auth FlightAuth
}

// ServeFlight starts a Flight endpoint on addr.
func ServeFlight(addr string, q *Planner, o FlightOptions) (*FlightServer, error) {
	var mw []flight.ServerMiddleware
	if o.Auth != nil {
		g := flightGuard{o.Auth}
		mw = append(mw, flight.ServerMiddleware{Unary: g.unary, Stream: g.stream})
	}
	var opts []grpc.ServerOption
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	srv := flight.NewServerWithMiddleware(mw, opts...)
	if err := srv.Init(addr); err != nil {
		return nil, fmt.Errorf("flight listener %s: %w", addr, err)
	}
	srv.RegisterFlightService(NewFlightService(q, o.Auth))
	fs := &FlightServer{srv: srv, done: make(chan error, 1)}
	go func() { fs.done <- srv.Serve() }()
	return fs, nil
}

// Addr is the bound address.
func (f *FlightServer) Addr() net.Addr { return f.srv.Addr() }

// Close stops the endpoint (streams in progress are cut).
func (f *FlightServer) Close() error {
	f.srv.Shutdown()
	return <-f.done
}
