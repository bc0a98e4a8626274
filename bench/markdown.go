package bench

import (
	"fmt"
	"io"
	"strings"
)

// num prints a figure with about three significant digits.
func num(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// times prints a ratio.
func times(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

func size(b int) string {
	switch {
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d B", b)
}

type table struct {
	w   io.Writer
	err error
}

func (t *table) row(cells ...string) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, "| %s |\n", strings.Join(cells, " | "))
	}
}

// head writes the header row; align has one letter per column, l (text)
// or r (figures).
func (t *table) head(align string, cells ...string) {
	t.row(cells...)
	seps := make([]string, len(cells))
	for i := range seps {
		seps[i] = "---"
		if i < len(align) && align[i] == 'r' {
			seps[i] = "---:"
		}
	}
	t.row(seps...)
}

func (t *table) line(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format+"\n", args...)
	}
}

// writeMarkdown prints the report as Markdown tables.
func writeMarkdown(w io.Writer, rep *Report) error {
	t := &table{w: w}
	m := rep.Machine
	t.line("## Strata bench, %s preset, %s", rep.Preset, rep.Started.Format("2006-01-02 15:04 UTC"))
	t.line("")
	t.line("Machine: %s, %d cores, %s, %s; data directory on %s; load average %s at the start.  ", m.CPUModel, m.Cores, m.Kernel, m.GoVersion, orDash(m.DataDisk), orDash(m.LoadAverage))
	t.line("Broker: %s; CPU and RSS figures cover %s.  ", rep.Broker.Mode, orDash(rep.Broker.ResourceScope))
	s := rep.Settings
	t.line("Load: %d franz-go producers, %.1f s at full speed per cell, then one consumer reads it all back, then %.1f s at %.0f %% of the full rate for latency. MB = 10^6 bytes of record values. Ratios are Strata / reference. Run took %.0f s.",
		s.Producers, s.ProduceSeconds, s.LatencySeconds, s.LatencyRateOfMaxPct, rep.DurationSeconds)
	t.line("")

	d := rep.References.Disk
	t.line("### References (same machine, same run)")
	t.line("")
	t.head("lrl", "reference", "figure", "what it bounds")
	t.row(fmt.Sprintf("disk: %s appends + fsync", size(s.DiskFsyncChunkBytes)), num(d.FsyncMBps)+" MB/s", "produce with acks=all")
	t.row(fmt.Sprintf("disk: %s appends + fsync", size(s.DiskSmallFsyncBytes)), fmt.Sprintf("%s fsyncs/s (p50 %s ms, p99 %s ms)", num(d.SmallFsyncsPS), num(d.SmallFsyncP50), num(d.SmallFsyncP99)), "acks=all request rate per partition")
	t.row(fmt.Sprintf("disk: %s appends, no fsync", size(s.DiskFsyncChunkBytes)), num(d.NoFsyncMBps)+" MB/s", "produce with acks=1 (page cache)")
	t.row("loopback TCP, one stream", num(rep.References.LoopbackTCP.MBps)+" MB/s", "any client on this machine")
	t.line("")
	if len(rep.References.NATS) > 0 {
		t.line("NATS JetStream %s in this process, file storage, nats.go async publishers and an ordered consumer:", s.NATSServerVersion)
		t.line("")
		t.head("lllrrrrrrr", "record", "acks", "durability", "publish MB/s", "records/s", "consume MB/s", "latency at records/s", "p50 ms", "p99 ms", "p99.9 ms")
		for _, n := range rep.References.NATS {
			t.row(size(n.RecordBytes), n.Acks, n.Durability, num(n.Produce.MBps), num(n.Produce.RecordsPerSec), num(n.Consume.MBps), rateCell(n.Latency),
				num(n.Latency.P50), num(n.Latency.P99), num(n.Latency.P999))
		}
		t.line("")
	}

	t.line("### Strata throughput")
	t.line("")
	t.head("lrlrrrrrrrr", "record", "partitions", "acks", "produce MB/s", "records/s", "÷ disk fsync", "÷ TCP", "÷ NATS", "consume MB/s", "÷ TCP", "÷ NATS")
	for _, c := range rep.Strata {
		r := c.Ratios
		t.row(size(c.RecordBytes), fmt.Sprint(c.Partitions), c.Acks, num(c.Produce.MBps), num(c.Produce.RecordsPerSec),
			times(r.ProduceVsDiskFsync), times(r.ProduceVsLoopbackTCP), times(r.ProduceVsNATS),
			num(c.Consume.MBps), times(r.ConsumeVsLoopbackTCP), times(r.ConsumeVsNATS))
	}
	t.line("")
	t.line("### Strata latency (end to end, at %.0f %% of the maximum rate) and broker resources", s.LatencyRateOfMaxPct)
	t.line("")
	t.line("A rate marked *saturated* was more than this machine could carry with broker, producers and consumer on its %d cores: the producers fell short of it or the consumer fell behind, so the percentiles there measure a growing queue.", m.Cores)
	t.line("")
	t.head("lrlrrrrrrrrrr", "record", "partitions", "acks", "records/s", "p50 ms", "p99 ms", "p99.9 ms", "p50 ÷ NATS", "p99 ÷ NATS", "p99.9 ÷ NATS", "CPU s/GB produce", "CPU s/GB consume", "peak RSS MB")
	for _, c := range rep.Strata {
		r, l := c.Ratios, c.Latency
		t.row(size(c.RecordBytes), fmt.Sprint(c.Partitions), c.Acks, rateCell(l), num(l.P50), num(l.P99), num(l.P999),
			times(r.P50VsNATS), times(r.P99VsNATS), times(r.P999VsNATS),
			num(c.CPUSecondsPerGBProduce), num(c.CPUSecondsPerGBConsume), num(c.PeakRSSMB))
	}
	t.line("")
	if tr := rep.Tiering; tr != nil {
		t.line("### Cold tier (one partition, %s records, %s segments)", size(tr.RecordBytes), size(int(s.TierSegmentBytes)))
		t.line("")
		t.head("rrrrrrr", "segments MB", "Parquet MB", "files", "tiering MB/s", "hot fetch MB/s", "cold fetch MB/s", "cold ÷ hot")
		t.row(num(tr.SegmentMB), num(tr.ParquetMB), fmt.Sprint(tr.Files), num(tr.TierMBps), num(tr.HotFetch.MBps), num(tr.ColdFetch.MBps), times(tr.ColdVsHot))
		t.line("")
	}
	if p := rep.Profile; p != nil {
		t.line("### Broker CPU profile (%.0f s over the measured phases, %s)", p.Seconds, p.File)
		t.line("")
		t.line("Top functions by their own time (flat), then Strata's functions by time in them and their callees (cum):")
		t.line("")
		t.head("lrr", "function", "flat %", "cum %")
		for _, h := range p.Top {
			t.row("`"+h.Function+"`", fmt.Sprintf("%.1f", h.FlatPct), fmt.Sprintf("%.1f", h.CumPct))
		}
		t.line("")
		t.head("lrr", "Strata function", "flat %", "cum %")
		for _, h := range p.TopStrata {
			t.row("`"+strings.TrimPrefix(h.Function, strataPkg)+"`", fmt.Sprintf("%.1f", h.FlatPct), fmt.Sprintf("%.1f", h.CumPct))
		}
		t.line("")
	}
	if len(rep.Skipped) > 0 {
		t.line("Not measured:")
		t.line("")
		for _, sk := range rep.Skipped {
			t.line("- %s", sk)
		}
		t.line("")
	}
	return t.err
}

// rateCell is the rate a latency phase ran at, marked when saturated.
func rateCell(l Latency) string {
	if l.Saturated {
		return num(l.AchievedRate) + " *saturated*"
	}
	return num(l.AchievedRate)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
