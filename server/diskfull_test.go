package server

import (
	"os"
	"os/exec"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// mountTmpfs mounts a tmpfs of the given size (e.g. "2m") on a new
// directory; the test is skipped where mounting is not allowed.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full test needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs (%v: %s): disk-full test skipped", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

func produceRaw(t *testing.T, rc *rawConn, topic string, value []byte) *kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = rawBatch(value)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rc.send(req)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Version = 9
	rc.recv(resp, 0)
	return &resp.Topics[0].Partitions[0]
}

func TestDiskFullGivesStorageErrorAndRecovers(t *testing.T) {
	dataDir := mountTmpfs(t, "2m")
	tb := startBroker(t, func(c *Config) {
		c.DataDir = dataDir
		c.EtcdDataDir = t.TempDir()
	})
	rc := dialRaw(t, tb)
	value := make([]byte, 64<<10)
	for i := range value {
		value[i] = byte(i * 7)
	}
	acked := 0
	var full *kmsg.ProduceResponseTopicPartition
	for i := 0; i < 100; i++ {
		r := produceRaw(t, rc, "full", value)
		if r.ErrorCode != 0 {
			full = r
			break
		}
		if r.BaseOffset != int64(acked) {
			t.Fatalf("acked at offset %d, want %d", r.BaseOffset, acked)
		}
		acked++
	}
	if full == nil {
		t.Fatal("2 MiB filesystem never filled up")
	}
	if full.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(full.ErrorCode))
	}
	// Still full: still refused, broker still up, stored data intact.
	if r := produceRaw(t, rc, "full", value); r.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("second produce on a full disk: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	recs := consumeAll(t, tb, "full", acked)
	for i, r := range recs[:acked] {
		if r.Offset != int64(i) || len(r.Value) != len(value) {
			t.Fatalf("record %d: offset %d, %d bytes", i, r.Offset, len(r.Value))
		}
	}
	// Space returns: produce works again, at the next offset.
	if out, err := exec.Command("mount", "-o", "remount,size=64m", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v %s", err, out)
	}
	r := produceRaw(t, rc, "full", value)
	if r.ErrorCode != 0 || r.BaseOffset != int64(acked) {
		t.Fatalf("after space returned: %v at offset %d, want success at %d", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset, acked)
	}
	tb.restart()
	recs = consumeAll(t, tb, "full", acked+1)
	if len(recs) != acked+1 || recs[acked].Offset != int64(acked) {
		t.Fatalf("after restart: %d records", len(recs))
	}
}
