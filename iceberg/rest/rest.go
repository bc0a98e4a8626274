// Package rest serves Strata's Iceberg tables over the Iceberg REST
// catalog API (the OpenAPI spec apache/iceberg open-api/
// rest-catalog-open-api.yaml): GET /v1/config, namespaces (list, load,
// exists), tables (list, load, exists). The catalog is read-only: every
// table is derived from the tier manifests, so writes (create, commit,
// drop, rename, register, namespace changes) are refused with 403 and the
// spec's error body ({"error": {"message", "type", "code"}}). Metric
// reports are accepted and dropped.
//
// With Config.Auth every request is authenticated (auth.go): Basic
// credentials, a bearer token (one from POST /v1/oauth/tokens, the
// client-credentials grant iceberg-go's and pyiceberg's "credential"
// option use, or a JWT), or a TLS client certificate; listing tables
// shows those the caller may Describe, loading one needs Read on its
// topic.
package rest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Source is what the catalog serves: one namespace of tables, each with
// its current metadata file. iceberg.Tables provides it.
type Source interface {
	Namespace() string
	Topics(ctx context.Context) ([]string, error)
	// Metadata returns the table's current metadata file location and
	// bytes; found is false if there is no such table.
	Metadata(ctx context.Context, table string) (location string, raw []byte, found bool, err error)
}

// Config configures the handler.
type Config struct {
	Source Source
	// Defaults are the catalog properties /v1/config hands every client
	// (the object store's s3.endpoint, s3.region, ...).
	Defaults map[string]string
	Logger   *slog.Logger
	// Auth authenticates and authorizes requests (nil: open).
	Auth Authenticator
}

// Handler serves the REST catalog.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New builds the handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, log: cfg.Logger.With("component", "iceberg-rest")}
}

// Error types of the ErrorModel.
const (
	typeBadRequest      = "BadRequestException"
	typeForbidden       = "ForbiddenException"
	typeNoSuchNamespace = "NoSuchNamespaceException"
	typeNoSuchTable     = "NoSuchTableException"
	typeNotFound        = "NotFoundException"
	typeUnavailable     = "ServiceUnavailableException"
	typeMethod          = "MethodNotAllowedException"
)

type errorModel struct {
	Message string   `json:"message"`
	Type    string   `json:"type"`
	Code    int      `json:"code"`
	Stack   []string `json:"stack,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, map[string]errorModel{"error": {Message: msg, Type: typ, Code: code}})
}

var endpoints = []string{
	"GET /v1/{prefix}/namespaces",
	"GET /v1/{prefix}/namespaces/{namespace}",
	"HEAD /v1/{prefix}/namespaces/{namespace}",
	"GET /v1/{prefix}/namespaces/{namespace}/tables",
	"GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
}

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	path := strings.TrimSuffix(r.URL.EscapedPath(), "/")
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 2 || parts[0] != "v1" {
		writeError(w, http.StatusNotFound, typeNotFound, "no such endpoint: "+r.URL.Path)
		return
	}
	parts = parts[1:]
	if len(parts) == 1 && parts[0] == "config" {
		if r.Method != http.MethodGet {
			h.refuse(w, r)
			return
		}
		h.config(w, r)
		return
	}
	if len(parts) >= 2 && parts[0] == "oauth" {
		h.issueToken(w, r)
		return
	}
	ctx, ok := h.authenticate(ctx, w, r)
	if !ok {
		return
	}
	if len(parts) >= 1 && (parts[0] == "tables" || parts[0] == "transactions") {
		h.refuse(w, r) // rename, multi-table commit
		return
	}
	if parts[0] != "namespaces" {
		writeError(w, http.StatusNotFound, typeNotFound, "no such endpoint: "+r.URL.Path)
		return
	}
	switch len(parts) {
	case 1:
		if r.Method != http.MethodGet {
			h.refuse(w, r)
			return
		}
		h.listNamespaces(w, r)
		return
	}
	ns, err := url.PathUnescape(parts[1])
	if err != nil {
		writeError(w, http.StatusBadRequest, typeBadRequest, "bad namespace: "+err.Error())
		return
	}
	known := h.namespaceKnown(ns)
	switch {
	case len(parts) == 2:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			if !known {
				h.noNamespace(w, r, ns)
				return
			}
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"namespace": []string{ns}, "properties": map[string]string{
				"comment": "Strata: one table per tiered topic, derived from the tier manifests (read-only)",
			}})
		default:
			h.refuse(w, r)
		}
		return
	case len(parts) == 3 && parts[2] == "tables":
		if r.Method != http.MethodGet {
			h.refuse(w, r)
			return
		}
		if !known {
			h.noNamespace(w, r, ns)
			return
		}
		h.listTables(ctx, w, ns)
		return
	case len(parts) == 4 && parts[2] == "tables":
		name, err := url.PathUnescape(parts[3])
		if err != nil {
			writeError(w, http.StatusBadRequest, typeBadRequest, "bad table name: "+err.Error())
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			if !known {
				h.noNamespace(w, r, ns)
				return
			}
			h.loadTable(ctx, w, r, ns, name)
		default:
			h.refuse(w, r)
		}
		return
	case len(parts) == 5 && parts[2] == "tables" && parts[4] == "metrics" && r.Method == http.MethodPost:
		w.WriteHeader(http.StatusNoContent) // scan reports: accepted, not kept
		return
	case len(parts) >= 3 && (parts[2] == "tables" || parts[2] == "register" || parts[2] == "properties" || parts[2] == "views"):
		if r.Method == http.MethodGet && parts[2] == "views" && len(parts) == 3 {
			writeJSON(w, http.StatusOK, map[string]any{"identifiers": []any{}})
			return
		}
		h.refuse(w, r)
		return
	}
	writeError(w, http.StatusNotFound, typeNotFound, "no such endpoint: "+r.URL.Path)
}

func (h *Handler) namespaceKnown(ns string) bool {
	return strings.ReplaceAll(ns, "\x1f", ".") == h.cfg.Source.Namespace()
}

func (h *Handler) noNamespace(w http.ResponseWriter, r *http.Request, ns string) {
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeError(w, http.StatusNotFound, typeNoSuchNamespace, "Namespace does not exist: "+ns)
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusForbidden, typeForbidden,
		r.Method+" "+r.URL.Path+": Strata's Iceberg tables are read-only: each is derived from a topic's tier manifests and committed by its brokers; produce to the topic instead")
}

func (h *Handler) config(w http.ResponseWriter, _ *http.Request) {
	defaults := map[string]string{}
	for k, v := range h.cfg.Defaults {
		defaults[k] = v
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"defaults":  defaults,
		"overrides": map[string]string{},
		"endpoints": endpoints,
	})
}

func (h *Handler) listNamespaces(w http.ResponseWriter, r *http.Request) {
	if parent := r.URL.Query().Get("parent"); parent != "" {
		if !h.namespaceKnown(parent) {
			writeError(w, http.StatusNotFound, typeNoSuchNamespace, "Namespace does not exist: "+parent)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"namespaces": [][]string{}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespaces": [][]string{{h.cfg.Source.Namespace()}}})
}

type identifier struct {
	Namespace []string `json:"namespace"`
	Name      string   `json:"name"`
}

func (h *Handler) listTables(ctx context.Context, w http.ResponseWriter, ns string) {
	topics, err := h.cfg.Source.Topics(ctx)
	if err != nil {
		h.unavailable(w, err)
		return
	}
	sort.Strings(topics)
	ids := make([]identifier, 0, len(topics))
	for _, t := range topics {
		if !h.visible(ctx, t) {
			continue
		}
		ids = append(ids, identifier{Namespace: []string{ns}, Name: t})
	}
	writeJSON(w, http.StatusOK, map[string]any{"identifiers": ids})
}

func (h *Handler) loadTable(ctx context.Context, w http.ResponseWriter, r *http.Request, ns, name string) {
	if !h.allow(ctx, w, r, name) {
		return
	}
	loc, raw, found, err := h.cfg.Source.Metadata(ctx, name)
	if err != nil {
		h.unavailable(w, err)
		return
	}
	if !found {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		writeError(w, http.StatusNotFound, typeNoSuchTable, "Table does not exist: "+ns+"."+name)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// ?snapshots=refs may be answered with all snapshots (the spec
	// allows it): the metadata is served as stored.
	writeJSON(w, http.StatusOK, struct {
		MetadataLocation string            `json:"metadata-location"`
		Metadata         json.RawMessage   `json:"metadata"`
		Config           map[string]string `json:"config"`
	}{loc, raw, map[string]string{}})
}

func (h *Handler) unavailable(w http.ResponseWriter, err error) {
	h.log.Warn("iceberg catalog request failed", "err", err)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		writeError(w, http.StatusServiceUnavailable, typeUnavailable, "catalog backend did not answer: "+err.Error())
		return
	}
	writeError(w, http.StatusServiceUnavailable, typeUnavailable, "catalog backend failed: "+err.Error())
}
