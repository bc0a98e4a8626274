package tiering

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// PartitionStatus is one row of `strata tier status`.
type PartitionStatus struct {
	Topic        string `json:"topic"`
	Partition    int32  `json:"partition"`
	RemoteEnable bool   `json:"remote_storage_enable"`
	// Local log: [LocalStart, LocalEnd), LocalBytes in LocalSegments.
	LocalStart    int64 `json:"local_start"`
	LocalEnd      int64 `json:"local_end"`
	LocalBytes    int64 `json:"local_bytes"`
	LocalSegments int   `json:"local_segments"`
	HighWatermark int64 `json:"high_watermark"`
	// DeletedBefore is the log start DeleteRecords set (0 if never, -1
	// while the leader has not read it): a tiered file may still hold
	// records below it (docs/export.md: queries filter on it).
	DeletedBefore int64 `json:"deleted_before"`
	// Cold tier: [RemoteStart, RemoteEnd) (-1 when empty), RemoteBytes of
	// objects in RemoteFiles, holding RemoteLogBytes of record batches.
	RemoteStart    int64 `json:"remote_start"`
	RemoteEnd      int64 `json:"remote_end"`
	RemoteBytes    int64 `json:"remote_bytes"`
	RemoteLogBytes int64 `json:"remote_log_bytes"`
	RemoteFiles    int   `json:"remote_files"`
	RemoteRecords  int64 `json:"remote_records"`
	// UntieredSealedBytes: sealed local segments not yet in the cold tier.
	UntieredSealedBytes int64  `json:"untiered_sealed_bytes"`
	LastError           string `json:"last_error,omitempty"`
	// The topic's Iceberg table (omitted when it has none): its version
	// and current snapshot, and this partition's files, bytes and end
	// offset in it; TableLag is RemoteEnd - TableEnd (tiered offsets not
	// yet in the table).
	Iceberg      bool   `json:"iceberg"`
	TableVersion int64  `json:"table_version,omitempty"`
	TableSnap    int64  `json:"table_snapshot_id,omitempty"`
	TableOp      string `json:"table_operation,omitempty"`
	TableFiles   int64  `json:"table_files,omitempty"`
	TableBytes   int64  `json:"table_bytes,omitempty"`
	TableEnd     int64  `json:"table_end,omitempty"`
	TableLag     int64  `json:"table_lag_offsets,omitempty"`
}

// Status describes the partitions this broker leads (those of topic, if
// not empty), sorted by topic and partition.
func (t *Tier) Status(ctx context.Context, topic string) ([]PartitionStatus, error) {
	t.mu.Lock()
	src := t.source
	t.mu.Unlock()
	if src == nil {
		return nil, nil
	}
	var out []PartitionStatus
	tables := map[string]*TableInfo{}
	ts, _ := t.cfg.Tables.(TableStatuser)
	for _, p := range src() {
		if topic != "" && p.Topic() != topic {
			continue
		}
		st := PartitionStatus{Topic: p.Topic(), Partition: p.Index(), RemoteEnable: p.TierSettings().Enabled,
			HighWatermark: p.HighWatermark(), DeletedBefore: p.DeletedBefore(), RemoteStart: -1, RemoteEnd: -1}
		locals := p.Segments()
		if len(locals) > 0 {
			st.LocalStart, st.LocalEnd = locals[0].BaseOffset, locals[len(locals)-1].NextOffset
		}
		st.LocalSegments = len(locals)
		segs, err := t.meta.TierSegments(ctx, p.Topic(), p.Index())
		if err != nil {
			return nil, err
		}
		tieredEnd := int64(-1)
		if len(segs) > 0 {
			st.RemoteStart, st.RemoteEnd = segs[0].BaseOffset, segs[len(segs)-1].LastOffset+1
			tieredEnd = st.RemoteEnd
		}
		for _, s := range segs {
			st.RemoteBytes += s.Size
			st.RemoteLogBytes += s.LogBytes
			st.RemoteRecords += s.Records
		}
		st.RemoteFiles = len(segs)
		for _, l := range locals {
			st.LocalBytes += l.Size
			if l.Sealed && l.NextOffset > tieredEnd {
				st.UntieredSealedBytes += l.Size
			}
		}
		if ts != nil && t.tableOn(p.TierSettings()) {
			ti, ok := tables[p.Topic()]
			if !ok {
				info, found, err := ts.TableInfo(ctx, p.Topic())
				if err != nil {
					return nil, err
				}
				if found {
					ti = &info
				}
				tables[p.Topic()] = ti
			}
			if ti != nil {
				tp := ti.Parts[p.Index()]
				st.Iceberg, st.TableVersion, st.TableSnap, st.TableOp = true, ti.Version, ti.SnapshotID, ti.Operation
				st.TableFiles, st.TableBytes, st.TableEnd = tp.Files, tp.Bytes, tp.End
				if tieredEnd > tp.End {
					st.TableLag = tieredEnd - max(tp.End, st.RemoteStart)
				}
			}
		}
		t.mu.Lock()
		for k, ps := range t.parts {
			if k.topic == p.Topic() && k.partition == p.Index() && ps.lastErr != nil {
				st.LastError = ps.lastErr.Error()
			}
		}
		t.mu.Unlock()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

// StatusPath is where StatusHandler is mounted on the broker's HTTP
// listener.
const StatusPath = "/v1/tier/status"

// StatusHandler serves Status as JSON: GET /v1/tier/status[?topic=T].
func (t *Tier) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		st, err := t.Status(ctx, r.URL.Query().Get("topic"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if st == nil {
			st = []PartitionStatus{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
}

// FetchStatus asks a broker's HTTP listener (e.g. http://localhost:9644)
// for its tier status.
func FetchStatus(ctx context.Context, base, topic string) ([]PartitionStatus, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u := strings.TrimSuffix(base, "/") + StatusPath
	if topic != "" {
		u += "?topic=" + url.QueryEscape(topic)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		msg.Write(buf[:n])
		return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(msg.String()))
	}
	var out []PartitionStatus
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return out, nil
}
