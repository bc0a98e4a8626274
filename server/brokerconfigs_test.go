package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerConfig is one config of broker id as DescribeConfigs answers it.
func brokerConfig(ctx context.Context, t *testing.T, adm *kadm.Client, id int32, name string) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeBrokerConfigs(ctx, id)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe broker %d: %v %+v", id, err, rcs)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == name {
			return c
		}
	}
	t.Fatalf("broker %d has no config %s", id, name)
	return kadm.Config{}
}

// topicConfig is one config of topic as DescribeConfigs answers it.
func topicConfig(ctx context.Context, t *testing.T, adm *kadm.Client, topic, name string) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe topic %s: %v %+v", topic, err, rcs)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == name {
			return c
		}
	}
	t.Fatalf("topic %s has no config %s", topic, name)
	return kadm.Config{}
}

func alterBroker(ctx context.Context, t *testing.T, adm *kadm.Client, op kadm.IncrementalOp, name, value string, brokers ...int32) error {
	t.Helper()
	resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: name, Value: kadm.StringPtr(value)}}, brokers...)
	if err != nil {
		return err
	}
	return resps[0].Err
}

// TestDynamicBrokerConfigs: log.level, log.retention.ms and
// log.retention.bytes change without a restart through
// IncrementalAlterConfigs (per broker and cluster-wide), DescribeConfigs
// tells their sources, the broker's logger and its topics' retention
// follow at once, etcd keeps them across a restart, and static or unknown
// configs are refused with Kafka's codes.
func TestDynamicBrokerConfigs(t *testing.T) {
	level := new(slog.LevelVar)
	tb := startBroker(t, func(c *Config) { c.LogLevel = level })
	ctx := testCtx(t)
	adm := tb.admin()

	if c := brokerConfig(ctx, t, adm, 1, "log.level"); *c.Value != "info" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("log.level before: %s from %v", *c.Value, c.Source)
	}
	if err := alterBroker(ctx, t, adm, kadm.SetConfig, "log.level", "debug", 1); err != nil {
		t.Fatal(err)
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("logger level %v after log.level=debug", level.Level())
	}
	if c := brokerConfig(ctx, t, adm, 1, "log.level"); *c.Value != "debug" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("log.level after: %s from %v", *c.Value, c.Source)
	}

	// A cluster-wide retention default reaches topics without their own.
	const plain, own = "dyn-plain", "dyn-own"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1024"), "remote.storage.enable": kadm.StringPtr("false")}, plain); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("86400000"), "remote.storage.enable": kadm.StringPtr("false")}, own); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(600))
	old := time.Now().Add(-time.Hour)
	for i := 0; i < 50; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: plain, Value: make([]byte, 300), Timestamp: old}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if start := earliest(ctx, t, adm, plain); start != 0 {
		t.Fatalf("retention ran before the change: log start %d", start)
	}
	if err := alterBroker(ctx, t, adm, kadm.SetConfig, "log.retention.ms", "1000"); err != nil {
		t.Fatal(err)
	}
	if c := topicConfig(ctx, t, adm, plain, "retention.ms"); *c.Value != "1000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("%s retention.ms: %s from %v", plain, *c.Value, c.Source)
	}
	if c := topicConfig(ctx, t, adm, own, "retention.ms"); *c.Value != "86400000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("%s retention.ms: %s from %v", own, *c.Value, c.Source)
	}
	// Synonyms, in force first: the topic's own, then the broker
	// config's sources (Kafka's order and names).
	for topic, want := range map[string]string{
		plain: "log.retention.ms=1000/DYNAMIC_DEFAULT_BROKER_CONFIG log.retention.ms=604800000/DEFAULT_CONFIG",
		own:   "retention.ms=86400000/DYNAMIC_TOPIC_CONFIG log.retention.ms=1000/DYNAMIC_DEFAULT_BROKER_CONFIG log.retention.ms=604800000/DEFAULT_CONFIG",
	} {
		var got []string
		for _, syn := range topicConfig(ctx, t, adm, topic, "retention.ms").Synonyms {
			got = append(got, fmt.Sprintf("%s=%s/%s", syn.Key, *syn.Value, syn.Source))
		}
		if strings.Join(got, " ") != want {
			t.Fatalf("%s retention.ms synonyms %v, want %s", topic, got, want)
		}
	}
	// Records an hour old are past the new default: retention deletes
	// their sealed segments.
	for earliest(ctx, t, adm, plain) == 0 {
		if ctx.Err() != nil {
			t.Fatal("retention never applied the dynamic log.retention.ms")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p, err := tb.srv.Broker().Partition(own, 0); err != nil || p.Config().RetentionMs != 86400000 {
		t.Fatalf("%s keeps its own retention.ms: %+v %v", own, p.Config().RetentionMs, err)
	}

	for _, tc := range []struct {
		name, value string
		want        error
	}{
		{"broker.id", "7", kerr.InvalidRequest},
		{"no.such.config", "1", kerr.InvalidConfig},
		{"log.retention.bytes", "lots", kerr.InvalidConfig},
		{"log.level", "chatty", kerr.InvalidConfig},
	} {
		if err := alterBroker(ctx, t, adm, kadm.SetConfig, tc.name, tc.value, 1); !errors.Is(err, tc.want) {
			t.Fatalf("set %s=%s: %v, want %v", tc.name, tc.value, err, tc.want)
		}
	}

	// The BROKER resource "" is the cluster-wide defaults alone.
	rcs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil || len(rcs) != 1 || len(rcs[0].Configs) != 1 || rcs[0].Configs[0].Key != "log.retention.ms" ||
		rcs[0].Configs[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("cluster-wide broker configs: %v %+v", err, rcs)
	}

	tb.stop()
	level.Set(slog.LevelInfo) // a new process starts at its --log-level
	tb.start()
	adm = tb.admin()
	if c := brokerConfig(ctx, t, adm, 1, "log.retention.ms"); *c.Value != "1000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("log.retention.ms after a restart: %s from %v", *c.Value, c.Source)
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("logger level %v after a restart, want debug from etcd", level.Level())
	}
	if err := alterBroker(ctx, t, adm, kadm.DeleteConfig, "log.level", "", 1); err != nil {
		t.Fatal(err)
	}
	if c := brokerConfig(ctx, t, adm, 1, "log.level"); c.Source != kmsg.ConfigSourceStaticBrokerConfig || level.Level() != slog.LevelInfo {
		t.Fatalf("log.level deleted: %s from %v, logger at %v", *c.Value, c.Source, level.Level())
	}
}

// TestBrokerLogger: the BROKER_LOGGER root logger, raw frames: set its
// level (this process only), describe it, delete the override; unknown
// loggers and levels are INVALID_CONFIG.
func TestBrokerLogger(t *testing.T) {
	level := new(slog.LevelVar)
	tb := startBroker(t, func(c *Config) { c.LogLevel = level })
	alter := func(name string, op kmsg.IncrementalAlterConfigOp, value *string) int16 {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, "1"
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Op, rc.Value = name, op, value
		rr.Configs = append(rr.Configs, rc)
		req.Resources = append(req.Resources, rr)
		return rawCall(t, tb, req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
	}
	describe := func() kmsg.DescribeConfigsResponseResourceConfig {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Version = 4
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, "1"
		req.Resources = append(req.Resources, rr)
		resp := rawCall(t, tb, req).(*kmsg.DescribeConfigsResponse)
		if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 || len(resp.Resources[0].Configs) != 1 {
			t.Fatalf("describe BROKER_LOGGER: %+v", resp.Resources)
		}
		return resp.Resources[0].Configs[0]
	}
	if c := describe(); c.Name != "root" || *c.Value != "INFO" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("root logger before: %s=%s from %v", c.Name, *c.Value, c.Source)
	}
	if code := alter("root", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("WARN")); code != 0 || level.Level() != slog.LevelWarn {
		t.Fatalf("set root=WARN: code %d, level %v", code, level.Level())
	}
	if c := describe(); *c.Value != "WARN" || c.Source != kmsg.ConfigSourceDynamicBrokerLoggerConfig {
		t.Fatalf("root logger after: %s from %v", *c.Value, c.Source)
	}
	if code := alter("kafka.server", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("WARN")); code != kerr.InvalidConfig.Code {
		t.Fatalf("unknown logger: code %d", code)
	}
	if code := alter("root", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("LOUD")); code != kerr.InvalidConfig.Code {
		t.Fatalf("unknown level: code %d", code)
	}
	if code := alter("root", kmsg.IncrementalAlterConfigOpDelete, nil); code != 0 || level.Level() != slog.LevelInfo {
		t.Fatalf("delete root: code %d, level %v", code, level.Level())
	}
}

// TestDynamicBrokerConfigsThreeBrokers: a cluster-wide change made
// through one broker reaches the others' DescribeConfigs and topics
// (their etcd watch); a per-broker one only that broker.
func TestDynamicBrokerConfigsThreeBrokers(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Every broker lists the three before a client asks (kgo keeps the
	// broker list it first learns for a while).
	for _, b := range c.brokers {
		for len(b.srv.Broker().Brokers()) != 3 {
			if ctx.Err() != nil {
				t.Fatalf("broker %d never saw three brokers", b.cfg.BrokerID)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	adm := kadm.NewClient(c.client())
	if err := alterBroker(ctx, t, adm, kadm.SetConfig, "log.retention.bytes", "123456"); err != nil {
		t.Fatal(err)
	}
	if err := alterBroker(ctx, t, adm, kadm.SetConfig, "log.retention.bytes", "654321", 2); err != nil {
		t.Fatal(err)
	}
	want := map[int32]string{1: "123456", 2: "654321", 3: "123456"}
	for id, v := range want {
		for {
			cfg := brokerConfig(ctx, t, adm, id, "log.retention.bytes")
			if *cfg.Value == v {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("broker %d: log.retention.bytes %s, want %s", id, *cfg.Value, v)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestListConfigResources: raw v0 (client metrics: none) and v1 (every
// type, and one type) against a broker.
func TestListConfigResources(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "lcr"); err != nil {
		t.Fatal(err)
	}
	list := func(version int16, types ...int8) map[string]bool {
		req := kmsg.NewPtrListConfigResourcesRequest()
		req.Version, req.ResourceTypes = version, types
		resp := rawCall(t, tb, req).(*kmsg.ListConfigResourcesResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d %v: %v", version, types, kerr.ErrorForCode(resp.ErrorCode))
		}
		out := map[string]bool{}
		for _, r := range resp.ConfigResources {
			out[fmt.Sprintf("%d:%s", r.Type, r.Name)] = true
		}
		return out
	}
	if got := list(0); len(got) != 0 {
		t.Fatalf("v0: %v, want no client-metrics resources", got)
	}
	all := list(1)
	for _, want := range []string{"2:lcr", "4:1", "8:1"} {
		if !all[want] {
			t.Fatalf("v1 every type: %v, missing %s", all, want)
		}
	}
	if got := list(1, int8(kmsg.ConfigResourceTypeTopic)); len(got) != 1 || !got["2:lcr"] {
		t.Fatalf("v1 topics: %v", got)
	}
}

// TestFeatures: ApiVersions (v3, what DescribeFeatures reads) lists no
// supported or finalized feature; UpdateFeatures at v0 and v2 refuses a
// level above 0 with INVALID_UPDATE_VERSION and takes level 0.
func TestFeatures(t *testing.T) {
	tb := startBroker(t)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "test", "1"
	resp := rawCall(t, tb, av).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.SupportedFeatures) != 0 || len(resp.FinalizedFeatures) != 0 || resp.FinalizedFeaturesEpoch != -1 {
		t.Fatalf("features: %+v %+v epoch %d", resp.SupportedFeatures, resp.FinalizedFeatures, resp.FinalizedFeaturesEpoch)
	}
	for _, version := range []int16{0, 2} {
		for level, want := range map[int16]int16{0: 0, 2: kerr.InvalidUpdateVersion.Code} {
			req := kmsg.NewPtrUpdateFeaturesRequest()
			req.Version, req.TimeoutMillis = version, 5000
			fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
			fu.Feature, fu.MaxVersionLevel = "transaction.version", level
			req.FeatureUpdates = append(req.FeatureUpdates, fu)
			r := rawCall(t, tb, req).(*kmsg.UpdateFeaturesResponse)
			got := r.ErrorCode
			if version < 2 {
				got = r.Results[0].ErrorCode
			}
			if got != want {
				t.Fatalf("v%d transaction.version=%d: code %d, want %d", version, level, got, want)
			}
		}
	}
}
