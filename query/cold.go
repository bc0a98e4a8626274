package query

import (
	"context"
	"fmt"
	"sort"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/tiering/coldfile"
)

// ColdFile is one Parquet object of a partition's cold tier holding
// offsets [Base, Last].
type ColdFile struct {
	Key        string
	Size       int64
	Base, Last int64
}

// ColdSource names the cold files of a partition, sorted by Base.
type ColdSource interface {
	ColdFiles(ctx context.Context, topic string, partition int32) ([]ColdFile, error)
}

// ListingSource finds cold files by listing the Hive-style prefix
// topic=<t>/partition=<p>/ of the bucket: what a tool without etcd access
// (strata export) does. Files that overlap (a merge in progress, before
// its inputs are deleted) are handled by the scanner, which reads each
// offset once.
type ListingSource struct{ Bucket objstore.Bucket }

func (s ListingSource) ColdFiles(ctx context.Context, topic string, partition int32) ([]ColdFile, error) {
	var out []ColdFile
	err := s.Bucket.List(ctx, coldfile.PartitionPrefix(topic, partition), func(oi objstore.ObjectInfo) error {
		t, p, base, last, ok := coldfile.ParseObjectKey(oi.Key)
		if ok && t == topic && p == partition {
			out = append(out, ColdFile{Key: oi.Key, Size: oi.Size, Base: base, Last: last})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", coldfile.PartitionPrefix(topic, partition), s.Bucket, err)
	}
	sortFiles(out)
	return out, nil
}

// ManifestSource reads the partition's manifest from etcd: what the broker
// (Flight) uses.
type ManifestSource struct{ Meta *meta.Client }

func (s ManifestSource) ColdFiles(ctx context.Context, topic string, partition int32) ([]ColdFile, error) {
	segs, err := s.Meta.TierSegments(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	out := make([]ColdFile, 0, len(segs))
	for _, sg := range segs {
		out = append(out, ColdFile{Key: sg.Object, Size: sg.Size, Base: sg.BaseOffset, Last: sg.LastOffset})
	}
	sortFiles(out)
	return out, nil
}

func sortFiles(fs []ColdFile) {
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Base != fs[j].Base {
			return fs[i].Base < fs[j].Base
		}
		return fs[i].Last > fs[j].Last
	})
}

// fileFor returns the file that holds offset off and reaches furthest, or
// false.
func fileFor(fs []ColdFile, off int64) (ColdFile, bool) {
	var best ColdFile
	found := false
	for _, f := range fs {
		if f.Base > off {
			break
		}
		if f.Last >= off && (!found || f.Last > best.Last) {
			best, found = f, true
		}
	}
	return best, found
}

// nextFileBase is the smallest base offset > off among fs, or -1.
func nextFileBase(fs []ColdFile, off int64) int64 {
	for _, f := range fs {
		if f.Base > off {
			return f.Base
		}
	}
	return -1
}
