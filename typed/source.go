package typed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/stratalog/strata/schemareg"
	"github.com/stratalog/strata/tiering/coldfile"
)

// Registry is what Source reads of the schema registry;
// *schemareg.Registry implements it.
type Registry interface {
	LatestParsed(ctx context.Context, subject string) (schemareg.Parsed, error)
	ParsedByID(ctx context.Context, id int32) (schemareg.Parsed, error)
}

// ValueSubject is the subject of a topic's values (TopicNameStrategy).
func ValueSubject(topic string) string { return topic + "-value" }

// lookupTimeout bounds one registry read made while decoding a value.
const lookupTimeout = 10 * time.Second

// maxCachedSchemas bounds Source's cache of schemas by id (registered
// schemas never change, so the cache is only dropped when full).
const maxCachedSchemas = 4096

// Source gives the tierer the decoder of a topic's values
// (tiering.ValueDecoders).
type Source struct {
	reg  Registry
	mu   sync.Mutex
	byID map[int32]schemareg.Parsed
}

// NewSource reads schemas from reg.
func NewSource(reg Registry) *Source {
	return &Source{reg: reg, byID: map[int32]schemareg.Parsed{}}
}

// ValueDecoder returns the decoder for one file of topic: its columns are
// those of the latest version of <topic>-value; nil when the subject has
// none.
func (s *Source) ValueDecoder(ctx context.Context, topic string) (coldfile.ValueDecoder, error) {
	latest, err := s.reg.LatestParsed(ctx, ValueSubject(topic))
	if errors.Is(err, schemareg.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("typed columns of %s: %w", topic, err)
	}
	s.remember(latest)
	d, err := newFileDecoder(s, latest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", coldfile.ErrNoTypedColumns, topic, err)
	}
	return d, nil
}

func (s *Source) remember(p schemareg.Parsed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= maxCachedSchemas {
		clear(s.byID)
	}
	s.byID[p.ID] = p
}

// parsed returns the schema of id; an error wrapping schemareg.ErrNotFound
// if it is not registered, coldfile.ErrDecoderUnavailable if the registry
// cannot say.
func (s *Source) parsed(id int32) (schemareg.Parsed, error) {
	s.mu.Lock()
	p, ok := s.byID[id]
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	p, err := s.reg.ParsedByID(ctx, id)
	if errors.Is(err, schemareg.ErrNotFound) {
		return p, err
	}
	if err != nil {
		return p, fmt.Errorf("%w: schema id %d: %v", coldfile.ErrDecoderUnavailable, id, err)
	}
	s.remember(p)
	return p, nil
}

// columns is one format's reader side: its Parquet group, and values of a
// writer schema decoded into it.
type columns interface {
	node() parquet.Node
	decode(writer schemareg.Parsed, payload []byte) (any, error)
}

// fileDecoder is the coldfile.ValueDecoder of one file.
type fileDecoder struct {
	src    *Source
	latest schemareg.Parsed
	cols   columns
}

func newFileDecoder(src *Source, latest schemareg.Parsed) (*fileDecoder, error) {
	var cols columns
	var err error
	switch latest.Type {
	case schemareg.TypeAvro:
		cols, err = newAvroColumns(latest)
	case schemareg.TypeJSON:
		cols, err = newJSONColumns(latest)
	case schemareg.TypeProtobuf:
		cols, err = newProtoColumns(latest)
	default:
		err = fmt.Errorf("schema type %q", latest.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("typed columns from schema id %d: %w", latest.ID, err)
	}
	return &fileDecoder{src: src, latest: latest, cols: cols}, nil
}

func (d *fileDecoder) Node() parquet.Node { return d.cols.node() }

func (d *fileDecoder) Decode(value []byte) (any, int32, error) {
	id, payload, err := ParseWire(value)
	if err != nil {
		return nil, -1, err
	}
	w, err := d.src.parsed(id)
	if errors.Is(err, schemareg.ErrNotFound) {
		return nil, id, fmt.Errorf("schema id %d is not registered", id)
	}
	if err != nil {
		return nil, id, err
	}
	if w.Type != d.latest.Type {
		return nil, id, fmt.Errorf("schema id %d is %s, the columns are %s (id %d)", id, w.Type, d.latest.Type, d.latest.ID)
	}
	v, err := d.cols.decode(w, payload)
	if err != nil {
		return nil, id, fmt.Errorf("schema id %d: %w", id, err)
	}
	return v, id, nil
}
