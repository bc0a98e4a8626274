package schemareg

import (
	"context"
	"errors"
	"fmt"

	"github.com/hamba/avro/v2"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/stratalog/strata/meta"
)

// ErrNotFound is wrapped by ParsedByID and LatestParsed when the id or the
// subject (with a live version) is not registered.
var ErrNotFound = errors.New("schemareg: not found")

// Parsed is a registered schema as its format's library parsed it, with
// its references: what typed columns (package typed) are built from.
type Parsed struct {
	ID   int32
	Type string // TypeAvro, TypeProtobuf or TypeJSON
	// Avro is the parsed schema (TypeAvro).
	Avro avro.Schema
	// Proto is the schema's file (TypeProtobuf); its imports resolved.
	Proto protoreflect.FileDescriptor
	// JSON is the schema document (TypeJSON), as jsonschema.UnmarshalJSON
	// reads it.
	JSON any
}

// ParsedByID returns the schema registered under id, parsed.
func (r *Registry) ParsedByID(ctx context.Context, id int32) (Parsed, error) {
	s, err := r.store.SchemaByID(ctx, id)
	if errors.Is(err, meta.ErrSchemaNotFound) {
		return Parsed{}, fmt.Errorf("schema id %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Parsed{}, err
	}
	c, err := r.compile(ctx, s)
	if err != nil {
		return Parsed{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	return parsedOf(id, c), nil
}

// LatestParsed returns the latest live version of subject, parsed.
func (r *Registry) LatestParsed(ctx context.Context, subject string) (Parsed, error) {
	sv, err := r.findVersion(ctx, subject, 0, false)
	var e *Error
	if errors.As(err, &e) {
		return Parsed{}, fmt.Errorf("subject %s: %w", subject, ErrNotFound)
	}
	if err != nil {
		return Parsed{}, err
	}
	return r.ParsedByID(ctx, sv.ID)
}

func parsedOf(id int32, c compiled) Parsed {
	p := Parsed{ID: id, Type: c.Type}
	switch s := c.p.(type) {
	case avroSchema:
		p.Avro = s.s
	case protoSchema:
		p.Proto = s.fd
	case jsonSchema:
		p.JSON = s.doc
	}
	return p
}
