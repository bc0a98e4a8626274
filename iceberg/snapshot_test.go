package iceberg

import (
	"strings"
	"testing"
	"time"
)

func TestParseSnapshotSelector(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want SnapshotSelector
		err  string
	}{
		{"", SnapshotSelector{}, ""},
		{"current", SnapshotSelector{}, ""},
		{"8151923012345", SnapshotSelector{ID: 8151923012345}, ""},
		{"2024-05-01T12:00:00Z", SnapshotSelector{AsOf: at}, ""},
		{"2024-05-01T14:00:00+02:00", SnapshotSelector{AsOf: at}, ""},
		{"0", SnapshotSelector{}, "ids are positive"},
		{"-3", SnapshotSelector{}, "ids are positive"},
		{"yesterday", SnapshotSelector{}, "want a snapshot id, an RFC 3339 time or current"},
		{"2024-05-01", SnapshotSelector{}, "want a snapshot id"},
	} {
		got, err := ParseSnapshotSelector(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.ID != tc.want.ID || !got.AsOf.Equal(tc.want.AsOf) {
			t.Errorf("%q: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
}
