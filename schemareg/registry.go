package schemareg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/stratalog/strata/meta"
)

// Store is what the registry needs of etcd; *meta.Client implements it.
type Store interface {
	SchemaIDFor(ctx context.Context, fp string, s meta.Schema) (int32, error)
	SchemaIDByFingerprint(ctx context.Context, fp string) (int32, bool, error)
	PutSchemaWithID(ctx context.Context, id int32, fp string, s meta.Schema) error
	SchemaByID(ctx context.Context, id int32) (meta.Schema, error)
	SchemaVersions(ctx context.Context, subject string) ([]meta.SchemaVersion, error)
	CreateSchemaVersion(ctx context.Context, sv meta.SchemaVersion) error
	SoftDeleteSchemaVersions(ctx context.Context, svs []meta.SchemaVersion) error
	DeleteSchemaVersions(ctx context.Context, svs []meta.SchemaVersion) error
	SchemaSetting(ctx context.Context, kind, subject string) (string, error)
	SetSchemaSetting(ctx context.Context, kind, subject, value string) error
}

// MaxRequestBytes bounds a request body; a schema must also fit in one
// etcd value (1.5 MiB requests by default).
const MaxRequestBytes = 1 << 20

// ContentType is Confluent's media type, used for every response.
const ContentType = "application/vnd.schemaregistry.v1+json"

// Compatibility levels and modes, by Confluent's names.
var (
	levels = []string{"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}
	modes  = []string{"READWRITE", "READONLY", "IMPORT"}
)

const (
	defaultLevel = "BACKWARD"
	defaultMode  = "READWRITE"
)

// Registry serves Confluent's Schema Registry REST API over a Store.
type Registry struct {
	store Store
	mux   *http.ServeMux
}

// New returns the registry's handler over store.
func New(store Store) *Registry {
	r := &Registry{store: store, mux: http.NewServeMux()}
	h := func(pattern string, fn func(*http.Request) (any, error)) {
		r.mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) { r.serve(w, req, fn) })
	}
	h("GET /{$}", func(*http.Request) (any, error) { return map[string]any{}, nil })
	h("GET /schemas/types", func(*http.Request) (any, error) { return []string{TypeJSON, TypeProtobuf, TypeAvro}, nil })
	h("GET /schemas/ids/{id}", r.schemaByID)
	h("GET /schemas/ids/{id}/schema", r.rawSchemaByID)
	h("GET /schemas/ids/{id}/subjects", r.subjectsByID)
	h("GET /schemas/ids/{id}/versions", r.versionsByID)
	h("GET /subjects", r.subjects)
	h("POST /subjects/{subject}", r.lookup)
	h("DELETE /subjects/{subject}", r.deleteSubject)
	h("GET /subjects/{subject}/versions", r.versions)
	h("POST /subjects/{subject}/versions", r.register)
	h("GET /subjects/{subject}/versions/{version}", r.version)
	h("GET /subjects/{subject}/versions/{version}/schema", r.rawVersion)
	h("GET /subjects/{subject}/versions/{version}/referencedby", r.referencedBy)
	h("DELETE /subjects/{subject}/versions/{version}", r.deleteVersion)
	h("POST /compatibility/subjects/{subject}/versions/{version}", r.compatibility)
	h("POST /compatibility/subjects/{subject}/versions", r.compatibility)
	for _, kind := range []string{"config", "mode"} {
		h("GET /"+kind, r.getSetting(kind))
		h("PUT /"+kind, r.putSetting(kind))
		h("DELETE /"+kind, r.deleteSetting(kind))
		h("GET /"+kind+"/{subject}", r.getSetting(kind))
		h("PUT /"+kind+"/{subject}", r.putSetting(kind))
		h("DELETE /"+kind+"/{subject}", r.deleteSetting(kind))
	}
	r.mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		r.serve(w, req, func(*http.Request) (any, error) { return nil, apiErr(404, "HTTP 404 Not Found") })
	})
	return r
}

func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

// Error is Confluent's error body; the HTTP status is the code's first
// three digits.
type Error struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("schema registry error %d: %s", e.Code, e.Message) }

func (e *Error) status() int {
	if e.Code >= 10000 {
		return e.Code / 100
	}
	return e.Code
}

func apiErr(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func errSubjectNotFound(s string) *Error { return apiErr(40401, "Subject '%s' not found.", s) }
func errVersionNotFound(s string, v int32) *Error {
	return apiErr(40402, "Version %d not found.", v)
}
func errSchemaNotFound() *Error { return apiErr(40403, "Schema not found") }

// raw marks a response written as text, not JSON (the /schema endpoints).
type raw string

var acceptedTypes = []string{ContentType, "application/vnd.schemaregistry+json", "application/json", "application/octet-stream"}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request, fn func(*http.Request) (any, error)) {
	var out any
	var err error
	if ct := req.Header.Get("Content-Type"); ct != "" && req.ContentLength != 0 {
		if mt, _, perr := mime.ParseMediaType(ct); perr != nil || !slices.Contains(acceptedTypes, mt) {
			err = apiErr(415, "HTTP 415 Unsupported Media Type")
		}
	}
	if err == nil {
		req.Body = http.MaxBytesReader(w, req.Body, MaxRequestBytes)
		out, err = fn(req)
	}
	w.Header().Set("Content-Type", ContentType)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = apiErr(50001, "Error in the backend data store: %v", err)
		}
		w.WriteHeader(e.status())
		json.NewEncoder(w).Encode(e)
		return
	}
	if s, ok := out.(raw); ok {
		io.WriteString(w, string(s))
		return
	}
	json.NewEncoder(w).Encode(out)
}

// schemaRequest is the body of register, lookup and compatibility calls.
type schemaRequest struct {
	Schema     string                 `json:"schema"`
	SchemaType string                 `json:"schemaType,omitempty"`
	References []meta.SchemaReference `json:"references,omitempty"`
	ID         int32                  `json:"id,omitempty"`
	Version    int32                  `json:"version,omitempty"`
}

func decodeBody(req *http.Request) (schemaRequest, error) {
	var sr schemaRequest
	if err := json.NewDecoder(req.Body).Decode(&sr); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return sr, apiErr(413, "request body larger than %d bytes", MaxRequestBytes)
		}
		return sr, apiErr(42201, "Invalid schema: request body: %v", err)
	}
	if sr.SchemaType == "" {
		sr.SchemaType = TypeAvro
	}
	sr.SchemaType = strings.ToUpper(sr.SchemaType)
	if !slices.Contains([]string{TypeAvro, TypeProtobuf, TypeJSON}, sr.SchemaType) {
		return sr, apiErr(42201, "Invalid schema type %s", sr.SchemaType)
	}
	if sr.Schema == "" {
		return sr, apiErr(42201, "Empty schema")
	}
	return sr, nil
}

// compiled is a schema parsed with its references, and its identity.
type compiled struct {
	meta.Schema
	p  parsed
	fp string
}

const maxReferenceDepth = 16

func (r *Registry) resolveRefs(ctx context.Context, refs []meta.SchemaReference, depth int) ([]ref, error) {
	if depth > maxReferenceDepth {
		return nil, apiErr(42201, "Invalid schema: references nested deeper than %d", maxReferenceDepth)
	}
	out := make([]ref, 0, len(refs))
	for _, rf := range refs {
		if rf.Name == "" || rf.Subject == "" {
			return nil, apiErr(42201, "Invalid schema: a reference needs a name and a subject")
		}
		sv, err := r.findVersion(ctx, rf.Subject, rf.Version, false)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return nil, apiErr(42201, "Invalid schema: reference %s (subject %s version %d): %s", rf.Name, rf.Subject, rf.Version, e.Message)
			}
			return nil, err
		}
		s, err := r.store.SchemaByID(ctx, sv.ID)
		if err != nil {
			return nil, err
		}
		sub, err := r.resolveRefs(ctx, s.References, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, ref{name: rf.Name, schema: s.Schema, refs: sub})
	}
	return out, nil
}

func (r *Registry) compile(ctx context.Context, s meta.Schema) (compiled, error) {
	refs, err := r.resolveRefs(ctx, s.References, 0)
	if err != nil {
		return compiled{}, err
	}
	p, err := parse(s.Type, s.Schema, refs)
	if err != nil {
		return compiled{}, apiErr(42201, "Invalid schema: %v", err)
	}
	h := sha256.New()
	refJSON, _ := json.Marshal(s.References)
	fmt.Fprintf(h, "%s\n%d:%s\n%s", s.Type, len(refJSON), refJSON, p.canonical())
	return compiled{Schema: s, p: p, fp: hex.EncodeToString(h.Sum(nil))}, nil
}

func (r *Registry) compileID(ctx context.Context, id int32) (compiled, error) {
	s, err := r.store.SchemaByID(ctx, id)
	if err != nil {
		return compiled{}, err
	}
	return r.compile(ctx, s)
}

// --- subjects and versions ---

func (r *Registry) subjectVersions(ctx context.Context, subject string, deleted bool) ([]meta.SchemaVersion, error) {
	all, err := r.store.SchemaVersions(ctx, subject)
	if err != nil {
		return nil, err
	}
	if deleted {
		return all, nil
	}
	return slices.DeleteFunc(all, func(sv meta.SchemaVersion) bool { return sv.Deleted }), nil
}

// parseVersion reads "latest", -1 or 1..2^31-1; 0 means latest.
func parseVersion(s string) (int32, error) {
	if s == "latest" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v == 0 || v < -1 {
		return 0, apiErr(42202, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s)
	}
	if v == -1 {
		return 0, nil
	}
	return int32(v), nil
}

// findVersion returns version v (0: latest) of subject.
func (r *Registry) findVersion(ctx context.Context, subject string, v int32, deleted bool) (meta.SchemaVersion, error) {
	all, err := r.store.SchemaVersions(ctx, subject)
	if err != nil {
		return meta.SchemaVersion{}, err
	}
	live := slices.DeleteFunc(slices.Clone(all), func(sv meta.SchemaVersion) bool { return sv.Deleted })
	if len(live) == 0 && (!deleted || len(all) == 0) {
		return meta.SchemaVersion{}, errSubjectNotFound(subject)
	}
	cands := live
	if deleted {
		cands = all
	}
	if v == 0 {
		if len(cands) == 0 {
			return meta.SchemaVersion{}, errVersionNotFound(subject, v)
		}
		return cands[len(cands)-1], nil
	}
	for _, sv := range cands {
		if sv.Version == v {
			return sv, nil
		}
	}
	return meta.SchemaVersion{}, errVersionNotFound(subject, v)
}

func boolParam(req *http.Request, name string) bool {
	b, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return b
}

func (r *Registry) subjects(req *http.Request) (any, error) {
	all, err := r.store.SchemaVersions(req.Context(), "")
	if err != nil {
		return nil, err
	}
	deleted, prefix := boolParam(req, "deleted"), req.URL.Query().Get("subjectPrefix")
	out := []string{}
	for _, sv := range all {
		if (deleted || !sv.Deleted) && strings.HasPrefix(sv.Subject, prefix) && (len(out) == 0 || out[len(out)-1] != sv.Subject) {
			out = append(out, sv.Subject)
		}
	}
	return out, nil
}

func (r *Registry) versions(req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	svs, err := r.subjectVersions(req.Context(), subject, boolParam(req, "deleted"))
	if err != nil {
		return nil, err
	}
	if len(svs) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	out := make([]int32, len(svs))
	for i, sv := range svs {
		out[i] = sv.Version
	}
	return out, nil
}

// subjectSchema is the body of a version.
type subjectSchema struct {
	Subject    string                 `json:"subject"`
	Version    int32                  `json:"version"`
	ID         int32                  `json:"id"`
	SchemaType string                 `json:"schemaType,omitempty"`
	References []meta.SchemaReference `json:"references,omitempty"`
	Schema     string                 `json:"schema"`
}

func (r *Registry) subjectSchema(ctx context.Context, sv meta.SchemaVersion) (subjectSchema, error) {
	s, err := r.store.SchemaByID(ctx, sv.ID)
	if err != nil {
		return subjectSchema{}, err
	}
	out := subjectSchema{Subject: sv.Subject, Version: sv.Version, ID: sv.ID, References: s.References, Schema: s.Schema}
	if s.Type != TypeAvro {
		out.SchemaType = s.Type
	}
	return out, nil
}

func (r *Registry) pathVersion(req *http.Request) (meta.SchemaVersion, error) {
	v, err := parseVersion(req.PathValue("version"))
	if err != nil {
		return meta.SchemaVersion{}, err
	}
	return r.findVersion(req.Context(), req.PathValue("subject"), v, boolParam(req, "deleted"))
}

func (r *Registry) version(req *http.Request) (any, error) {
	sv, err := r.pathVersion(req)
	if err != nil {
		return nil, err
	}
	return r.subjectSchema(req.Context(), sv)
}

func (r *Registry) rawVersion(req *http.Request) (any, error) {
	sv, err := r.pathVersion(req)
	if err != nil {
		return nil, err
	}
	s, err := r.store.SchemaByID(req.Context(), sv.ID)
	if err != nil {
		return nil, err
	}
	return raw(s.Schema), nil
}

// referencing lists the live versions whose schemas reference subject
// version v, as schema ids.
func (r *Registry) referencing(ctx context.Context, subject string, v int32) ([]int32, error) {
	all, err := r.subjectVersions(ctx, "", false)
	if err != nil {
		return nil, err
	}
	out := []int32{}
	for _, sv := range all {
		s, err := r.store.SchemaByID(ctx, sv.ID)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(s.References, func(rf meta.SchemaReference) bool { return rf.Subject == subject && rf.Version == v }) &&
			!slices.Contains(out, sv.ID) {
			out = append(out, sv.ID)
		}
	}
	return out, nil
}

func (r *Registry) referencedBy(req *http.Request) (any, error) {
	sv, err := r.pathVersion(req)
	if err != nil {
		return nil, err
	}
	return r.referencing(req.Context(), sv.Subject, sv.Version)
}

// --- ids ---

func pathID(req *http.Request) (int32, error) {
	id, err := strconv.ParseInt(req.PathValue("id"), 10, 32)
	if err != nil || id < 1 {
		return 0, apiErr(40403, "Schema %s not found", req.PathValue("id"))
	}
	return int32(id), nil
}

func (r *Registry) byID(req *http.Request) (int32, meta.Schema, error) {
	id, err := pathID(req)
	if err != nil {
		return 0, meta.Schema{}, err
	}
	s, err := r.store.SchemaByID(req.Context(), id)
	if errors.Is(err, meta.ErrSchemaNotFound) {
		return 0, s, apiErr(40403, "Schema %d not found", id)
	}
	return id, s, err
}

func (r *Registry) schemaByID(req *http.Request) (any, error) {
	_, s, err := r.byID(req)
	if err != nil {
		return nil, err
	}
	out := struct {
		SchemaType string                 `json:"schemaType,omitempty"`
		Schema     string                 `json:"schema"`
		References []meta.SchemaReference `json:"references,omitempty"`
	}{Schema: s.Schema, References: s.References}
	if s.Type != TypeAvro {
		out.SchemaType = s.Type
	}
	return out, nil
}

func (r *Registry) rawSchemaByID(req *http.Request) (any, error) {
	_, s, err := r.byID(req)
	if err != nil {
		return nil, err
	}
	return raw(s.Schema), nil
}

type subjectVersion struct {
	Subject string `json:"subject"`
	Version int32  `json:"version"`
}

func (r *Registry) usages(req *http.Request) ([]subjectVersion, error) {
	id, _, err := r.byID(req)
	if err != nil {
		return nil, err
	}
	all, err := r.subjectVersions(req.Context(), "", boolParam(req, "deleted"))
	if err != nil {
		return nil, err
	}
	out := []subjectVersion{}
	for _, sv := range all {
		if sv.ID == id {
			out = append(out, subjectVersion{sv.Subject, sv.Version})
		}
	}
	return out, nil
}

func (r *Registry) versionsByID(req *http.Request) (any, error) { return r.usages(req) }

func (r *Registry) subjectsByID(req *http.Request) (any, error) {
	us, err := r.usages(req)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, u := range us {
		if !slices.Contains(out, u.Subject) {
			out = append(out, u.Subject)
		}
	}
	return out, nil
}

// --- register, lookup, compatibility ---

func (r *Registry) setting(ctx context.Context, kind, subject string) (string, error) {
	if subject != "" {
		v, err := r.store.SchemaSetting(ctx, kind, subject)
		if err == nil || !errors.Is(err, meta.ErrSchemaNotFound) {
			return v, err
		}
	}
	v, err := r.store.SchemaSetting(ctx, kind, "")
	if errors.Is(err, meta.ErrSchemaNotFound) {
		if kind == "config" {
			return defaultLevel, nil
		}
		return defaultMode, nil
	}
	return v, err
}

// check returns why c cannot follow the versions under level.
func (r *Registry) check(ctx context.Context, level string, c compiled, live []meta.SchemaVersion) ([]string, error) {
	if level == "NONE" || len(live) == 0 {
		return nil, nil
	}
	against := live[len(live)-1:]
	if strings.HasSuffix(level, "_TRANSITIVE") {
		against = live
	}
	var msgs []string
	for i := len(against) - 1; i >= 0; i-- {
		sv := against[i]
		old, err := r.compileID(ctx, sv.ID)
		if err != nil {
			return nil, err
		}
		if old.Type != c.Type {
			msgs = append(msgs, fmt.Sprintf("version %d: schema type %s, not %s", sv.Version, old.Type, c.Type))
			continue
		}
		base := strings.TrimSuffix(level, "_TRANSITIVE")
		if base == "BACKWARD" || base == "FULL" {
			for _, m := range c.p.readable(old.p) {
				msgs = append(msgs, fmt.Sprintf("version %d (backward): %s", sv.Version, m))
			}
		}
		if base == "FORWARD" || base == "FULL" {
			for _, m := range old.p.readable(c.p) {
				msgs = append(msgs, fmt.Sprintf("version %d (forward): %s", sv.Version, m))
			}
		}
	}
	return msgs, nil
}

func (r *Registry) register(req *http.Request) (any, error) {
	ctx, subject := req.Context(), req.PathValue("subject")
	body, err := decodeBody(req)
	if err != nil {
		return nil, err
	}
	mode, err := r.setting(ctx, "mode", subject)
	if err != nil {
		return nil, err
	}
	switch {
	case mode == "READONLY":
		return nil, apiErr(42205, "Subject %s is in read-only mode", subject)
	case body.ID > 0 && mode != "IMPORT":
		return nil, apiErr(42205, "Subject %s is not in import mode", subject)
	}
	c, err := r.compile(ctx, meta.Schema{Type: body.SchemaType, Schema: body.Schema, References: body.References})
	if err != nil {
		return nil, err
	}
	for range 10 {
		all, err := r.store.SchemaVersions(ctx, subject)
		if err != nil {
			return nil, err
		}
		live := slices.DeleteFunc(slices.Clone(all), func(sv meta.SchemaVersion) bool { return sv.Deleted })
		id, known, err := r.store.SchemaIDByFingerprint(ctx, c.fp)
		if err != nil {
			return nil, err
		}
		if known {
			if i := slices.IndexFunc(live, func(sv meta.SchemaVersion) bool { return sv.ID == id }); i >= 0 {
				if body.ID > 0 && body.ID != id {
					return nil, apiErr(42207, "Overwrite new schema with id %d is not permitted: it has id %d", body.ID, id)
				}
				return map[string]int32{"id": id}, nil
			}
		}
		if mode != "IMPORT" {
			level, err := r.setting(ctx, "config", subject)
			if err != nil {
				return nil, err
			}
			msgs, err := r.check(ctx, level, c, live)
			if err != nil {
				return nil, err
			}
			if len(msgs) > 0 {
				return nil, apiErr(409, "Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]", subject, strings.Join(msgs, ", "))
			}
		}
		switch {
		case body.ID > 0:
			if err := r.store.PutSchemaWithID(ctx, body.ID, c.fp, c.Schema); errors.Is(err, meta.ErrSchemaVersionExists) {
				return nil, apiErr(42207, "Overwrite new schema with id %d is not permitted: %v", body.ID, err)
			} else if err != nil {
				return nil, err
			}
			id = body.ID
		case !known:
			if id, err = r.store.SchemaIDFor(ctx, c.fp, c.Schema); err != nil {
				return nil, err
			}
		}
		version := int32(1)
		if len(all) > 0 {
			version = all[len(all)-1].Version + 1
		}
		if body.Version > 0 {
			if mode != "IMPORT" && body.Version != version {
				return nil, apiErr(42202, "Version %d is not one more than the latest version %d", body.Version, version-1)
			}
			version = body.Version
		}
		if version == math.MaxInt32 {
			return nil, apiErr(42202, "subject %s has no versions left", subject)
		}
		err = r.store.CreateSchemaVersion(ctx, meta.SchemaVersion{Subject: subject, Version: version, ID: id})
		if errors.Is(err, meta.ErrSchemaVersionExists) {
			if body.Version > 0 {
				return nil, apiErr(42207, "Version %d of subject %s already exists", version, subject)
			}
			continue // another broker wrote this version: read again
		}
		if err != nil {
			return nil, err
		}
		return map[string]int32{"id": id}, nil
	}
	return nil, fmt.Errorf("register under %s: %w", subject, meta.ErrConflict)
}

func (r *Registry) lookup(req *http.Request) (any, error) {
	ctx, subject := req.Context(), req.PathValue("subject")
	body, err := decodeBody(req)
	if err != nil {
		return nil, err
	}
	svs, err := r.subjectVersions(ctx, subject, boolParam(req, "deleted"))
	if err != nil {
		return nil, err
	}
	if len(svs) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	c, err := r.compile(ctx, meta.Schema{Type: body.SchemaType, Schema: body.Schema, References: body.References})
	if err != nil {
		return nil, err
	}
	id, known, err := r.store.SchemaIDByFingerprint(ctx, c.fp)
	if err != nil {
		return nil, err
	}
	for i := len(svs) - 1; known && i >= 0; i-- {
		if svs[i].ID == id {
			return r.subjectSchema(ctx, svs[i])
		}
	}
	return nil, errSchemaNotFound()
}

func (r *Registry) compatibility(req *http.Request) (any, error) {
	ctx, subject := req.Context(), req.PathValue("subject")
	body, err := decodeBody(req)
	if err != nil {
		return nil, err
	}
	level, err := r.setting(ctx, "config", subject)
	if err != nil {
		return nil, err
	}
	var against []meta.SchemaVersion
	if vs := req.PathValue("version"); vs != "" {
		v, err := parseVersion(vs)
		if err != nil {
			return nil, err
		}
		sv, err := r.findVersion(ctx, subject, v, false)
		if err != nil {
			return nil, err
		}
		against = []meta.SchemaVersion{sv}
		level = strings.TrimSuffix(level, "_TRANSITIVE")
	} else if against, err = r.subjectVersions(ctx, subject, false); err != nil {
		return nil, err
	}
	c, err := r.compile(ctx, meta.Schema{Type: body.SchemaType, Schema: body.Schema, References: body.References})
	if err != nil {
		return nil, err
	}
	msgs, err := r.check(ctx, level, c, against)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"is_compatible": len(msgs) == 0}
	if boolParam(req, "verbose") {
		if msgs == nil {
			msgs = []string{}
		}
		out["messages"] = msgs
	}
	return out, nil
}

// --- deletes ---

func (r *Registry) deleteSubject(req *http.Request) (any, error) {
	ctx, subject := req.Context(), req.PathValue("subject")
	if mode, err := r.setting(ctx, "mode", subject); err != nil {
		return nil, err
	} else if mode == "READONLY" {
		return nil, apiErr(42205, "Subject %s is in read-only mode", subject)
	}
	all, err := r.store.SchemaVersions(ctx, subject)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	live := slices.DeleteFunc(slices.Clone(all), func(sv meta.SchemaVersion) bool { return sv.Deleted })
	permanent := boolParam(req, "permanent")
	switch {
	case permanent && len(live) > 0:
		return nil, apiErr(40405, "Subject '%s' was not deleted first before being permanently deleted", subject)
	case !permanent && len(live) == 0:
		return nil, apiErr(40404, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
	}
	target := live
	if permanent {
		target = all
	}
	for _, sv := range target {
		if ids, err := r.referencing(ctx, subject, sv.Version); err != nil {
			return nil, err
		} else if len(ids) > 0 {
			return nil, apiErr(42206, "One or more references exist to the schema {subject=%s,version=%d}", subject, sv.Version)
		}
	}
	if permanent {
		err = r.store.DeleteSchemaVersions(ctx, target)
	} else {
		err = r.store.SoftDeleteSchemaVersions(ctx, target)
	}
	if err != nil {
		return nil, err
	}
	if permanent {
		r.store.SetSchemaSetting(ctx, "config", subject, "")
		r.store.SetSchemaSetting(ctx, "mode", subject, "")
	}
	out := make([]int32, len(target))
	for i, sv := range target {
		out[i] = sv.Version
	}
	return out, nil
}

func (r *Registry) deleteVersion(req *http.Request) (any, error) {
	ctx, subject := req.Context(), req.PathValue("subject")
	if mode, err := r.setting(ctx, "mode", subject); err != nil {
		return nil, err
	} else if mode == "READONLY" {
		return nil, apiErr(42205, "Subject %s is in read-only mode", subject)
	}
	v, err := parseVersion(req.PathValue("version"))
	if err != nil {
		return nil, err
	}
	permanent := boolParam(req, "permanent")
	sv, err := r.findVersion(ctx, subject, v, permanent)
	if err != nil {
		var e *Error
		if v != 0 && !permanent && errors.As(err, &e) && e.Code == 40402 {
			if d, derr := r.findVersion(ctx, subject, v, true); derr == nil && d.Deleted {
				return nil, apiErr(40406, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, v)
			}
		}
		return nil, err
	}
	if permanent && !sv.Deleted {
		return nil, apiErr(40407, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, sv.Version)
	}
	if ids, err := r.referencing(ctx, subject, sv.Version); err != nil {
		return nil, err
	} else if len(ids) > 0 {
		return nil, apiErr(42206, "One or more references exist to the schema {subject=%s,version=%d}", subject, sv.Version)
	}
	if permanent {
		err = r.store.DeleteSchemaVersions(ctx, []meta.SchemaVersion{sv})
	} else {
		err = r.store.SoftDeleteSchemaVersions(ctx, []meta.SchemaVersion{sv})
	}
	if err != nil {
		return nil, err
	}
	return sv.Version, nil
}

// --- config and mode ---

func settingField(kind string) (get, put string, allowed []string, code int) {
	if kind == "config" {
		return "compatibilityLevel", "compatibility", levels, 42203
	}
	return "mode", "mode", modes, 42204
}

func (r *Registry) getSetting(kind string) func(*http.Request) (any, error) {
	get, _, _, _ := settingField(kind)
	return func(req *http.Request) (any, error) {
		ctx, subject := req.Context(), req.PathValue("subject")
		var v string
		var err error
		if subject == "" || boolParam(req, "defaultToGlobal") {
			v, err = r.setting(ctx, kind, subject)
		} else if v, err = r.store.SchemaSetting(ctx, kind, subject); errors.Is(err, meta.ErrSchemaNotFound) {
			if kind == "config" {
				return nil, apiErr(40408, "Subject '%s' does not have subject-level compatibility configured", subject)
			}
			return nil, apiErr(40409, "Subject '%s' does not have subject-level mode configured", subject)
		}
		if err != nil {
			return nil, err
		}
		return map[string]string{get: v}, nil
	}
}

func (r *Registry) putSetting(kind string) func(*http.Request) (any, error) {
	_, put, allowed, code := settingField(kind)
	return func(req *http.Request) (any, error) {
		var body map[string]any
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			return nil, apiErr(code, "Invalid %s: %v", put, err)
		}
		v, _ := body[put].(string)
		v = strings.ToUpper(v)
		if !slices.Contains(allowed, v) {
			if kind == "config" {
				return nil, apiErr(code, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
			}
			return nil, apiErr(code, "Invalid mode. Valid values are READWRITE, READONLY, IMPORT")
		}
		if err := r.store.SetSchemaSetting(req.Context(), kind, req.PathValue("subject"), v); err != nil {
			return nil, err
		}
		return map[string]string{put: v}, nil
	}
}

func (r *Registry) deleteSetting(kind string) func(*http.Request) (any, error) {
	get, _, _, _ := settingField(kind)
	return func(req *http.Request) (any, error) {
		ctx, subject := req.Context(), req.PathValue("subject")
		prev, err := r.setting(ctx, kind, subject)
		if err != nil {
			return nil, err
		}
		if subject != "" {
			if svs, err := r.store.SchemaVersions(ctx, subject); err != nil {
				return nil, err
			} else if len(svs) == 0 {
				if _, err := r.store.SchemaSetting(ctx, kind, subject); errors.Is(err, meta.ErrSchemaNotFound) {
					return nil, errSubjectNotFound(subject)
				}
			}
		}
		if err := r.store.SetSchemaSetting(ctx, kind, subject, ""); err != nil {
			return nil, err
		}
		return map[string]string{get: prev}, nil
	}
}
