package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/term"

	"github.com/stratalog/strata/fileutil"
	"github.com/stratalog/strata/iceberg"
	"github.com/stratalog/strata/objstore"
	"github.com/stratalog/strata/objstore/storeurl"
	"github.com/stratalog/strata/query"
)

type exportFlags struct {
	brokers     []string
	timeout     time.Duration
	topic       string
	partitions  []int32
	fromOffset  int64
	toOffset    int64
	fromTime    string
	toTime      string
	format      string
	out         string
	objectStore string
	s3Endpoint  string
	s3Region    string
	s3CredFile  string
	valueFormat string
	valueSchema string
	sampleRows  int
	batchRows   int
	progress    string
	snapshot    string
	isolation   string
}

func newExportCmd() *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export a topic range (hot and cold) to Parquet, Arrow, JSON lines or CSV",
		Long: `Export a range of a topic to a file or an object, reading the cold part directly
from the cold tier's Parquet files (--object-store, the same URL the brokers use)
and the rest from the brokers over the Kafka protocol. Offsets: --from-offset is
inclusive, --to-offset exclusive. Times (RFC 3339) are turned into offsets as
Kafka consumers do. Without --object-store everything is fetched from the
brokers (they serve cold offsets too, only slower).`,
		Example: `  strata export --brokers localhost:9092 --topic orders --format parquet --out orders.parquet \
      --object-store file:///var/lib/strata/objects
  strata export --topic orders --snapshot 2024-05-01T00:00:00Z --object-store s3://lake/strata --format parquet --out orders-may.parquet
  strata export --topic orders --from-time 2024-05-01T00:00:00Z --format jsonl --out - --value-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runExport(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.brokers, "brokers", []string{"localhost:9092"}, "bootstrap brokers, comma separated")
	fl.DurationVar(&f.timeout, "timeout", 15*time.Second, "how long to wait for the cluster to answer metadata requests")
	fl.StringVar(&f.topic, "topic", "", "topic to export (required)")
	fl.Int32SliceVar(&f.partitions, "partitions", nil, "partitions, comma separated (default: all)")
	fl.Int64Var(&f.fromOffset, "from-offset", -1, "first offset (inclusive; default: the log start)")
	fl.Int64Var(&f.toOffset, "to-offset", -1, "end offset (exclusive; default: the high watermark when the export starts)")
	fl.StringVar(&f.fromTime, "from-time", "", "start at the first record with a timestamp >= this RFC 3339 time")
	fl.StringVar(&f.toTime, "to-time", "", "stop before the first record with a timestamp > this RFC 3339 time")
	fl.StringVar(&f.format, "format", "parquet", "parquet, arrow (Arrow IPC file), jsonl or csv")
	fl.StringVar(&f.out, "out", "", "output: a path, - for stdout, or s3://bucket/key (required)")
	fl.StringVar(&f.objectStore, "object-store", "", "the brokers' cold tier: s3://bucket/prefix or file:///path (default: read everything from the brokers)")
	fl.StringVar(&f.s3Endpoint, "s3-endpoint", "", "S3-compatible endpoint URL, e.g. http://127.0.0.1:9000 (default AWS S3)")
	fl.StringVar(&f.s3Region, "s3-region", "", "S3 region (default: discovered)")
	fl.StringVar(&f.s3CredFile, "s3-credentials-file", "", "AWS shared-credentials file (default: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")
	fl.StringVar(&f.valueFormat, "value-format", "raw", "raw (bytes) or json (typed columns projected from JSON values)")
	fl.StringVar(&f.valueSchema, "value-schema", "", "JSON Schema file giving the value columns (with --value-format json; default: inferred)")
	fl.IntVar(&f.sampleRows, "sample-rows", 1000, "records sampled to infer the JSON value schema")
	fl.IntVar(&f.batchRows, "batch-rows", 8192, "rows per Arrow record batch")
	fl.StringVar(&f.snapshot, "snapshot", "", "read the topic's Iceberg table as of a snapshot (its id, an RFC 3339 time, or current) from --object-store: exactly that snapshot's files, no broker asked")
	fl.StringVar(&f.isolation, "isolation-level", "read_committed", "read_committed: committed records only, up to the last stable offset, without transaction markers; read_uncommitted: every record up to the high watermark (aborted and open transactions, markers)")
	fl.StringVar(&f.progress, "progress", "auto", "auto (a bar on a terminal, lines otherwise), bar, lines or none")
	return cmd
}

func parseTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time such as 2024-05-01T12:00:00Z", flag, v)
	}
	return t, nil
}

func storeOpts(f *exportFlags, u string) storeurl.Options {
	return storeurl.Options{URL: u, S3Endpoint: f.s3Endpoint, S3Region: f.s3Region, CredentialsFile: f.s3CredFile}
}

// openColdStore opens --object-store and checks that it answers.
func openColdStore(ctx context.Context, f *exportFlags) (objstore.Bucket, error) {
	if f.objectStore == "" {
		return nil, nil
	}
	if u, err := url.Parse(f.objectStore); err == nil && u.Scheme == "file" {
		if st, err := os.Stat(u.Path); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--object-store %s: no such directory", f.objectStore)
		}
	}
	store, err := storeurl.Open(storeOpts(f, f.objectStore))
	if err != nil {
		return nil, err
	}
	if store.Check != nil {
		cctx, cancel := context.WithTimeout(ctx, f.timeout)
		err := store.Check(cctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("object store %s not reachable: %v", store.Bucket, oneLine(err))
		}
	}
	return store.Bucket, nil
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

func runExport(cmd *cobra.Command, f *exportFlags) error {
	if f.topic == "" {
		return errors.New("--topic is required")
	}
	if f.out == "" {
		return errors.New("--out is required (a path, - for stdout, or s3://bucket/key)")
	}
	if err := query.CheckFormat(f.format); err != nil {
		return fmt.Errorf("--format: %v", err)
	}
	if f.valueFormat != "raw" && f.valueFormat != "json" {
		return fmt.Errorf("--value-format %q: want raw or json", f.valueFormat)
	}
	if f.valueSchema != "" && f.valueFormat != "json" {
		return errors.New("--value-schema needs --value-format json")
	}
	if cmd.Flags().Changed("from-offset") && f.fromTime != "" || cmd.Flags().Changed("to-offset") && f.toTime != "" {
		return errors.New("give an offset or a time for each end of the range, not both")
	}
	if f.isolation != "read_committed" && f.isolation != "read_uncommitted" {
		return fmt.Errorf("--isolation-level %q: want read_committed or read_uncommitted", f.isolation)
	}
	var snap *iceberg.SnapshotSelector
	if f.snapshot != "" {
		if f.objectStore == "" {
			return errors.New("--snapshot reads the table from the object store: give --object-store")
		}
		if f.fromTime != "" || f.toTime != "" {
			return errors.New("--snapshot takes offsets, not times (the snapshot itself is the point in time)")
		}
		sel, err := iceberg.ParseSnapshotSelector(f.snapshot)
		if err != nil {
			return fmt.Errorf("--snapshot: %v", err)
		}
		snap = &sel
	}
	fromT, err := parseTime("from-time", f.fromTime)
	if err != nil {
		return err
	}
	toT, err := parseTime("to-time", f.toTime)
	if err != nil {
		return err
	}
	var vs *query.ValueSchema
	if f.valueSchema != "" {
		data, err := os.ReadFile(f.valueSchema)
		if err != nil {
			return fmt.Errorf("--value-schema: %v", err)
		}
		if vs, err = query.ParseValueSchema(data); err != nil {
			return fmt.Errorf("--value-schema %s: %v", f.valueSchema, oneLine(err))
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	bucket, err := openColdStore(ctx, f)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.RequestTimeoutOverhead(f.timeout), kgo.RetryTimeout(f.timeout))
	if err != nil {
		return fmt.Errorf("kafka client: %v", err)
	}
	defer cl.Close()
	q := query.NewPlanner(query.Config{Client: cl, Bucket: bucket, BatchRows: f.batchRows})
	pctx, cancel := context.WithTimeout(ctx, f.timeout)
	plan, err := q.Plan(pctx, query.Range{Topic: f.topic, Partitions: f.partitions, FromOffset: f.fromOffset, ToOffset: f.toOffset, FromTime: fromT, ToTime: toT, Snapshot: snap,
		ReadUncommitted: f.isolation == "read_uncommitted"})
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("brokers %s did not answer within %s", strings.Join(f.brokers, ","), f.timeout)
		}
		return errors.New(oneLine(err))
	}

	// The output: a file (renamed into place when complete), stdout, or a
	// temporary file uploaded to the object store at the end.
	var w io.Writer
	var finish func() error
	abort := func() {}
	switch {
	case f.out == "-":
		w, finish = os.Stdout, func() error { return nil }
	case strings.HasPrefix(f.out, "s3://"):
		u, err := url.Parse(f.out)
		if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return fmt.Errorf("--out %q: want s3://bucket/key", f.out)
		}
		store, err := storeurl.Open(storeOpts(f, "s3://"+u.Host))
		if err != nil {
			return fmt.Errorf("--out: %v", oneLine(err))
		}
		tmp, err := os.CreateTemp("", "strata-export-*")
		if err != nil {
			return err
		}
		abort = func() { tmp.Close(); os.Remove(tmp.Name()) }
		w = tmp
		finish = func() error {
			defer abort()
			size, err := tmp.Seek(0, io.SeekCurrent)
			if err != nil {
				return err
			}
			if _, err := tmp.Seek(0, io.SeekStart); err != nil {
				return err
			}
			if _, err := store.Bucket.Put(ctx, strings.Trim(u.Path, "/"), tmp, size); err != nil {
				return fmt.Errorf("upload %s: %v", f.out, oneLine(err))
			}
			return nil
		}
	default:
		tmp, err := fileutil.Create(f.out, 0o644)
		if err != nil {
			return fmt.Errorf("--out: %v", err)
		}
		abort = tmp.Abort
		w = tmp
		finish = tmp.Commit
	}

	s, err := q.Scan(ctx, plan, nil)
	if err != nil {
		abort()
		return err
	}
	defer s.Close()
	rep := newReporter(f.progress, plan.Records)
	start := time.Now()
	st, err := query.Export(s, w, query.ExportOptions{Format: f.format, ValueJSON: f.valueFormat == "json", ValueSchema: vs,
		SampleRows: f.sampleRows, Progress: rep.update})
	rep.done()
	if err != nil {
		abort()
		return fmt.Errorf("export: %v", oneLine(err))
	}
	if err := finish(); err != nil {
		return err
	}
	el := time.Since(start)
	from := fmt.Sprintf("%d from the cold tier, %d from the brokers", st.ColdRows, st.HotRows)
	if plan.Snapshot != 0 {
		from = fmt.Sprintf("table snapshot %d", plan.Snapshot)
	}
	fmt.Fprintf(os.Stderr, "exported %d records (%s), %s of keys/values/headers in %s (%.0f records/s) to %s\n",
		st.Rows, from, humanBytes(st.Bytes), el.Round(time.Millisecond), float64(st.Rows)/max(el.Seconds(), 1e-9), f.out)
	return nil
}

// reporter shows progress: a bar on a terminal, a line every few seconds
// otherwise.
type reporter struct {
	bar   *progressbar.ProgressBar
	lines bool
	total int64
	start time.Time
	last  time.Time
	st    query.Stats
}

func newReporter(mode string, total int64) *reporter {
	r := &reporter{total: total, start: time.Now(), last: time.Now()}
	if mode == "auto" {
		mode = "lines"
		if term.IsTerminal(int(os.Stderr.Fd())) {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		r.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("exporting"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rec"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(),
		)
	case "lines":
		r.lines = true
	}
	return r
}

func (r *reporter) update(st query.Stats) {
	r.st = st
	if r.bar != nil {
		r.bar.Describe(fmt.Sprintf("exporting %s", humanBytes(st.Bytes)))
		_ = r.bar.Set64(min(st.Rows, r.total))
		return
	}
	if r.lines && time.Since(r.last) >= 2*time.Second {
		r.last = time.Now()
		el := time.Since(r.start).Seconds()
		rate := float64(st.Rows) / max(el, 1e-9)
		eta := "?"
		if rate > 0 {
			eta = (time.Duration(float64(r.total-st.Rows)/rate) * time.Second).Round(time.Second).String()
		}
		fmt.Fprintf(os.Stderr, "progress: %d/%d records, %s, %.0f records/s, %.1f MB/s, eta %s\n",
			st.Rows, r.total, humanBytes(st.Bytes), rate, float64(st.Bytes)/1e6/max(el, 1e-9), eta)
	}
}

func (r *reporter) done() {
	if r.bar != nil {
		_ = r.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
}
