package bench

import "time"

// Report is the JSON file: everything one run measured. Every number of a
// complete run is positive; a part that could not be measured is left out
// and says why in Skipped.
type Report struct {
	Started         time.Time  `json:"started"`
	DurationSeconds float64    `json:"duration_seconds"`
	Preset          string     `json:"preset"`
	Machine         Machine    `json:"machine"`
	Broker          BrokerInfo `json:"broker"`
	Settings        Settings   `json:"settings"`
	References      References `json:"references"`
	Strata          []Cell     `json:"strata"`
	Tiering         *Tiering   `json:"tiering,omitempty"`
	Profile         *Profile   `json:"profile,omitempty"`
	// Skipped names what was not measured and why.
	Skipped []string `json:"skipped,omitempty"`
}

// Machine is where the run happened.
type Machine struct {
	CPUModel  string `json:"cpu_model"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	DataDisk  string `json:"data_disk,omitempty"` // file system of the data directory
	// LoadAverage is /proc/loadavg's 1, 5 and 15 minute figures when the
	// run started: anything else running skews every figure.
	LoadAverage string `json:"load_average,omitempty"`
}

// BrokerInfo says which broker was measured and what its CPU and RSS
// figures cover.
type BrokerInfo struct {
	Mode          string `json:"mode"` // "child process", "in process" or "external"
	ResourceScope string `json:"resource_scope,omitempty"`
	Metrics       string `json:"metrics,omitempty"` // HTTP address: /metrics, /debug/pprof/
}

// Settings are the knobs of the run.
type Settings struct {
	Producers             int     `json:"producers"`
	ProduceSeconds        float64 `json:"produce_seconds"`
	LatencySeconds        float64 `json:"latency_seconds"`
	LatencyRateOfMaxPct   float64 `json:"latency_rate_of_max_pct"`
	ReferenceSeconds      float64 `json:"reference_seconds"`
	DiskFsyncChunkBytes   int     `json:"disk_fsync_chunk_bytes"`
	DiskSmallFsyncBytes   int     `json:"disk_small_fsync_bytes"`
	LoopbackTCPWriteBytes int     `json:"loopback_tcp_write_bytes"`
	NATSServerVersion     string  `json:"nats_server_version,omitempty"`
	TierSegmentBytes      int64   `json:"tier_segment_bytes,omitempty"`
	TierRecordBytes       int     `json:"tier_record_bytes,omitempty"`
	MatrixCells           int     `json:"matrix_cells"`
}

// References are the same-machine limits and peer Strata is compared to.
type References struct {
	Disk        DiskRef      `json:"disk"`
	LoopbackTCP TCPRef       `json:"loopback_tcp"`
	NATS        []NATSResult `json:"nats,omitempty"`
}

// DiskRef is sequential appends with an fsync after each, in the broker's
// data directory.
type DiskRef struct {
	FsyncMBps     float64 `json:"fsync_mb_s"`     // DiskFsyncChunkBytes writes, fsync each
	SmallFsyncsPS float64 `json:"small_fsyncs_s"` // DiskSmallFsyncBytes writes, fsync each
	SmallFsyncP50 float64 `json:"small_fsync_p50_ms"`
	SmallFsyncP99 float64 `json:"small_fsync_p99_ms"`
	NoFsyncMBps   float64 `json:"write_no_fsync_mb_s"` // the page cache, for scale
}

// TCPRef is one loopback TCP stream's bandwidth.
type TCPRef struct {
	MBps float64 `json:"mb_s"`
}

// Throughput is one direction's rate.
type Throughput struct {
	MBps          float64 `json:"mb_s"`
	RecordsPerSec float64 `json:"records_s"`
	Records       int64   `json:"records"`
	Seconds       float64 `json:"seconds"`
}

// Latency is end-to-end (produce call to consumer poll) latency at a fixed
// rate.
type Latency struct {
	TargetRate   float64 `json:"target_records_s"`
	AchievedRate float64 `json:"achieved_records_s"`
	Samples      int64   `json:"samples"`
	P50          float64 `json:"p50_ms"`
	P99          float64 `json:"p99_ms"`
	P999         float64 `json:"p999_ms"`
	// BacklogMs is how long the consumer still needed once the producers'
	// last record was acknowledged. Saturated says the machine (broker and
	// clients together) could not sustain the rate: the producers fell
	// more than 5 % short of it, or the backlog or the median latency
	// exceeded a tenth of the phase; the percentiles then measure a queue.
	BacklogMs float64 `json:"backlog_ms"`
	Saturated bool    `json:"saturated"`
}

// NATSResult is JetStream at one record size and durability.
type NATSResult struct {
	RecordBytes int        `json:"record_bytes"`
	Acks        string     `json:"acks"` // the Strata acks it stands beside
	Durability  string     `json:"durability"`
	Produce     Throughput `json:"produce"`
	Consume     Throughput `json:"consume"`
	Latency     Latency    `json:"latency"`
}

// Cell is Strata at one record size, partition count and acks.
type Cell struct {
	RecordBytes int        `json:"record_bytes"`
	Partitions  int        `json:"partitions"`
	Acks        string     `json:"acks"`
	Produce     Throughput `json:"produce"`
	Consume     Throughput `json:"consume"`
	Latency     Latency    `json:"latency"`
	// Broker CPU seconds per GB of record values produced and consumed,
	// and the broker's peak RSS during the cell (see BrokerInfo).
	CPUSecondsPerGBProduce float64 `json:"cpu_s_per_gb_produce,omitempty"`
	CPUSecondsPerGBConsume float64 `json:"cpu_s_per_gb_consume,omitempty"`
	PeakRSSMB              float64 `json:"peak_rss_mb,omitempty"`
	Ratios                 Ratios  `json:"ratios"`
}

// Ratios put a cell beside each reference: Strata / reference.
type Ratios struct {
	ProduceVsDiskFsync   float64 `json:"produce_vs_disk_fsync"`
	ProduceVsLoopbackTCP float64 `json:"produce_vs_loopback_tcp"`
	ConsumeVsLoopbackTCP float64 `json:"consume_vs_loopback_tcp"`
	ProduceVsNATS        float64 `json:"produce_vs_nats,omitempty"`
	ConsumeVsNATS        float64 `json:"consume_vs_nats,omitempty"`
	P50VsNATS            float64 `json:"p50_vs_nats,omitempty"`
	P99VsNATS            float64 `json:"p99_vs_nats,omitempty"`
	P999VsNATS           float64 `json:"p999_vs_nats,omitempty"`
}

// Tiering is the cold tier's figures for one partition.
type Tiering struct {
	RecordBytes int `json:"record_bytes"`
	// SegmentMB of record batches became ParquetMB of objects at TierMBps
	// (from enabling remote storage to the last sealed segment uploaded).
	SegmentMB float64 `json:"segment_mb"`
	ParquetMB float64 `json:"parquet_mb"`
	TierMBps  float64 `json:"tier_mb_s"`
	Files     int     `json:"files"`
	// The same offsets fetched from the local log, then (local copies
	// deleted) from the object store.
	HotFetch  Throughput `json:"hot_fetch"`
	ColdFetch Throughput `json:"cold_fetch"`
	ColdVsHot float64    `json:"cold_vs_hot"`
}

// Profile is the broker's CPU profile over the measured phases.
type Profile struct {
	File    string  `json:"file"`
	Seconds float64 `json:"seconds"`
	// Top is ordered by flat time, TopStrata (Strata's own functions only)
	// by cumulative time.
	Top       []Hotspot `json:"top"`
	TopStrata []Hotspot `json:"top_strata"`
}

// Hotspot is one function's share of the profile's samples.
type Hotspot struct {
	Function string  `json:"function"`
	FlatPct  float64 `json:"flat_pct"`
	CumPct   float64 `json:"cum_pct"`
}
