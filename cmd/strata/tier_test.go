package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stratalog/strata/tiering"
)

func TestPrintTierStatus(t *testing.T) {
	var buf bytes.Buffer
	printTierStatus(&buf, []tiering.PartitionStatus{
		{Topic: "orders", Partition: 0, RemoteEnable: true, LocalStart: 1200, LocalEnd: 1500, LocalBytes: 3 << 20, LocalSegments: 2,
			RemoteStart: 0, RemoteEnd: 1200, RemoteBytes: 5 << 20, RemoteFiles: 3,
			Iceberg: true, TableVersion: 7, TableSnap: 42, TableOp: "append", TableFiles: 2, TableBytes: 4 << 20, TableEnd: 900, TableLag: 300},
		{Topic: "orders", Partition: 1, RemoteEnable: true, RemoteStart: -1, RemoteEnd: -1, UntieredSealedBytes: 4096, LastError: "objstore: connection refused"},
	})
	out := buf.String()
	for _, want := range []string{"LOCAL OFFSETS", "1200..1499", "0..1199", "3.0 MiB", "5.0 MiB", "4.0 KiB", "failing: objstore: connection refused", "v7 snapshot 42 (append), 2 files, 4.0 MiB, 300 offsets behind"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
