package broker

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/stratalog/strata/fileutil"
	"github.com/stratalog/strata/hotlog"
	"github.com/stratalog/strata/meta"
)

// A partition directory holds partition.metadata, which names the topic
// id the log belongs to (Kafka's file of the same name). It tells the log
// of a topic from the log of an older topic of the same name. The broker
// never deletes a directory because of what it found in that file: a
// directory that belongs to another topic id is moved aside into the
// quarantine folder, and a missing or torn file (a power loss right after
// the partition was created) is rewritten from etcd when the log itself
// is consistent with etcd. Only etcd state (topic deleted, replica moved
// away) deletes a partition's files.

const (
	partitionMetadataFile = "partition.metadata"
	// quarantineReasonFile, inside a quarantined directory, says why and
	// from where it was moved.
	quarantineReasonFile = "quarantine.json"
)

// ErrNotQuarantined is returned for a quarantine entry that does not exist.
var ErrNotQuarantined = errors.New("broker: no such quarantined partition directory")

func partitionMetadata(id [16]byte) []byte {
	return []byte("version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n")
}

// parsePartitionMetadata returns the topic id in a partition.metadata
// file; false when the content is not a whole file of version 0.
func parsePartitionMetadata(b []byte) ([16]byte, bool) {
	var id [16]byte
	rest, ok := strings.CutPrefix(string(b), "version: 0\ntopic_id: ")
	if !ok {
		return id, false
	}
	enc, ok := strings.CutSuffix(rest, "\n")
	if !ok {
		return id, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(raw) != len(id) {
		return id, false
	}
	copy(id[:], raw)
	return id, true
}

// dirState is what openPartition found in a partition directory.
type dirState int

const (
	dirNew   dirState = iota // no directory: a new replica
	dirOK                    // partition.metadata names the topic's id
	dirTorn                  // directory without a whole partition.metadata
	dirOther                 // partition.metadata names another topic id
)

// inspectPartitionDir reads dir's partition.metadata. An error (other
// than a missing file) means the directory cannot be judged: the
// partition stays offline and the files stay where they are.
func inspectPartitionDir(dir string, id [16]byte) (dirState, [16]byte, error) {
	got, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, serr := os.Stat(dir); errors.Is(serr, os.ErrNotExist) {
			return dirNew, [16]byte{}, nil
		} else if serr != nil {
			return 0, [16]byte{}, fmt.Errorf("stat %s: %w", dir, serr)
		}
		return dirTorn, [16]byte{}, nil
	case err != nil:
		return 0, [16]byte{}, fmt.Errorf("read %s: %w", filepath.Join(dir, partitionMetadataFile), err)
	}
	other, ok := parsePartitionMetadata(got)
	switch {
	case !ok:
		return dirTorn, [16]byte{}, nil
	case other != id:
		return dirOther, other, nil
	}
	return dirOK, id, nil
}

// openPartitionLog opens the log in the partition directory for topic t,
// creating the directory for a new replica. A directory that belongs to
// another topic id is quarantined first; a torn partition.metadata is
// rewritten once the log opened and its leader epochs are no newer than
// etcd's (a log with a newer epoch cannot be this topic's). A directory
// this call created is removed again when the log cannot be opened, so a
// failed creation leaves nothing half-made behind.
func (b *Broker) openPartitionLog(t meta.Topic, st meta.PartitionState, cfg hotlog.Config) (*hotlog.Log, error) {
	dir := b.partitionDir(t.Name, st.Partition)
	logger := b.log.With("topic", t.Name, "partition", st.Partition)
	state, other, err := inspectPartitionDir(dir, t.ID)
	if err != nil {
		return nil, err
	}
	if state == dirOther {
		reason := fmt.Sprintf("partition.metadata names topic id %s, etcd's topic %s has %s",
			base64.RawURLEncoding.EncodeToString(other[:]), t.Name, base64.RawURLEncoding.EncodeToString(t.ID[:]))
		if _, err := b.quarantine(dir, reason); err != nil {
			return nil, err
		}
		state = dirNew
	}
	if state == dirNew {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create partition dir: %w", err)
		}
		if err := fileutil.WriteFile(filepath.Join(dir, partitionMetadataFile), partitionMetadata(t.ID), 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if err := fileutil.SyncDir(b.cfg.LogDir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	l, err := hotlog.Open(dir, cfg, logger)
	if err != nil {
		if state == dirNew {
			// Made by this call and never written to: nothing to keep.
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("open partition %s/%d: %w", t.Name, st.Partition, err)
	}
	if state != dirTorn {
		return l, nil
	}
	if e := l.LatestEpoch(); e > st.LeaderEpoch {
		if err := l.Close(); err != nil {
			return nil, err
		}
		reason := fmt.Sprintf("partition.metadata missing or torn and the log has leader epoch %d, newer than etcd's %d", e, st.LeaderEpoch)
		if _, err := b.quarantine(dir, reason); err != nil {
			return nil, err
		}
		return b.openPartitionLog(t, st, cfg)
	}
	if err := fileutil.WriteFile(filepath.Join(dir, partitionMetadataFile), partitionMetadata(t.ID), 0o644); err != nil {
		l.Close()
		return nil, err
	}
	logger.Warn("partition.metadata was missing or torn: rewritten from etcd, the log (consistent with etcd's leader epoch) is kept",
		"dir", dir, "log_end_offset", l.LogEndOffset(), "latest_epoch", l.LatestEpoch(), "etcd_epoch", st.LeaderEpoch)
	return l, nil
}

// QuarantineEntry is one directory moved aside into the quarantine folder.
type QuarantineEntry struct {
	Name   string    `json:"name"`   // directory name inside the quarantine folder
	From   string    `json:"from"`   // the partition directory it was moved from
	Reason string    `json:"reason"` // why
	At     time.Time `json:"at"`
	Bytes  int64     `json:"bytes"`
}

// quarantine moves a partition directory into the quarantine folder,
// durably, and says so loudly: its files are kept for an operator
// (`strata partition quarantine`).
func (b *Broker) quarantine(dir, reason string) (string, error) {
	now := time.Now().UTC()
	dst := filepath.Join(b.cfg.QuarantineDir, filepath.Base(dir)+"-"+now.Format("20060102T150405.000000000Z"))
	if err := os.MkdirAll(b.cfg.QuarantineDir, 0o755); err != nil {
		return "", fmt.Errorf("create quarantine dir: %w", err)
	}
	if err := fileutil.Rename(dir, dst); err != nil {
		return "", fmt.Errorf("quarantine %s: %w", dir, err)
	}
	e := QuarantineEntry{Name: filepath.Base(dst), From: dir, Reason: reason, At: now}
	data, _ := json.MarshalIndent(e, "", "  ")
	if err := fileutil.WriteFile(filepath.Join(dst, quarantineReasonFile), append(data, '\n'), 0o644); err != nil {
		b.log.Warn("cannot record the quarantine reason", "dir", dst, "err", err)
	}
	b.log.Error("QUARANTINED partition directory: it does not match etcd; moved aside, nothing deleted; inspect with `strata partition quarantine list`",
		"from", dir, "to", dst, "reason", reason)
	return dst, nil
}

// ListQuarantine lists the quarantine folder, oldest first.
func ListQuarantine(quarantineDir string) ([]QuarantineEntry, error) {
	des, err := os.ReadDir(quarantineDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	var out []QuarantineEntry
	for _, de := range des {
		if !de.IsDir() {
			continue
		}
		path := filepath.Join(quarantineDir, de.Name())
		e := QuarantineEntry{Name: de.Name()}
		if data, err := os.ReadFile(filepath.Join(path, quarantineReasonFile)); err == nil {
			_ = json.Unmarshal(data, &e)
			e.Name = de.Name()
		}
		_ = filepath.WalkDir(path, func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil {
					e.Bytes += info.Size()
				}
			}
			return nil
		})
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// RestoreQuarantined moves a quarantined directory back to the partition
// directory it came from, in logDir. It refuses when that directory
// exists (a broker recreated the partition since): restoring over it
// would mix two logs. The caller holds the data directory's lock, so no
// broker runs on it. The next broker start judges the directory again
// against etcd.
func RestoreQuarantined(quarantineDir, logDir, name string) (string, error) {
	src, err := quarantinePath(quarantineDir, name)
	if err != nil {
		return "", err
	}
	e := QuarantineEntry{}
	if data, err := os.ReadFile(filepath.Join(src, quarantineReasonFile)); err == nil {
		_ = json.Unmarshal(data, &e)
	}
	base := filepath.Base(e.From)
	if e.From == "" {
		// Without the record, the name is <dir>-<time>.
		i := strings.LastIndexByte(name, '-')
		if i <= 0 {
			return "", fmt.Errorf("quarantine entry %s: cannot tell which partition it was", name)
		}
		base = name[:i]
	}
	dst := filepath.Join(logDir, base)
	if _, err := os.Stat(dst); err == nil {
		return "", fmt.Errorf("%s exists: the partition was recreated since; move it away first (restoring over it would mix two logs)", dst)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return "", err
	}
	if err := os.Remove(filepath.Join(src, quarantineReasonFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := fileutil.Rename(src, dst); err != nil {
		return "", fmt.Errorf("restore %s: %w", name, err)
	}
	return dst, nil
}

// DeleteQuarantined deletes a quarantined directory for good.
func DeleteQuarantined(quarantineDir, name string) error {
	path, err := quarantinePath(quarantineDir, name)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("delete %s: %w", path, err)
	}
	return fileutil.SyncDir(quarantineDir)
}

func quarantinePath(quarantineDir, name string) (string, error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return "", fmt.Errorf("%w: %q", ErrNotQuarantined, name)
	}
	path := filepath.Join(quarantineDir, name)
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%w: %s", ErrNotQuarantined, name)
	}
	return path, nil
}
