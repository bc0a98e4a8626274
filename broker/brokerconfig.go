package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
)

// Dynamic broker configs: the broker configs IncrementalAlterConfigs (and
// AlterConfigs) may change without a restart, kept in etcd
// (meta.UpdateBrokerConfigs) for one broker (resource name = its id) or
// for every broker (resource name ""), watched by every broker and applied
// at once. A broker's value is its own, else the cluster default, else its
// static one (the serve flags).
//
// log.level sets the broker's slog level. log.retention.ms and
// log.retention.bytes are the retention.ms and retention.bytes of topics
// without their own (Kafka's names and meaning).
//
// BROKER_LOGGER resources (Kafka's log4j loggers) have one logger here,
// "root": setting its level overrides log.level in this process only and
// is not stored, as Kafka keeps logger levels in memory; deleting it goes
// back to log.level.

// ConfigSource is where a config's value comes from (Kafka's
// DescribeConfigs config source).
type ConfigSource int8

// The config sources Strata answers (kmsg.ConfigSource values).
const (
	SourceUnknown              ConfigSource = 0
	SourceDynamicTopic         ConfigSource = 1
	SourceDynamicBroker        ConfigSource = 2
	SourceDynamicDefaultBroker ConfigSource = 3
	SourceStaticBroker         ConfigSource = 4
	SourceDefault              ConfigSource = 5
	SourceDynamicBrokerLogger  ConfigSource = 6
)

// The dynamic broker configs, and the one BROKER_LOGGER logger.
const (
	dynamicLogLevel       = "log.level"
	dynamicRetentionMs    = "log.retention.ms"
	dynamicRetentionBytes = "log.retention.bytes"
	rootLogger            = "root"
)

// dynamicBrokerConfigDefs are the broker configs that change without a
// restart, with their defaults when neither etcd nor a flag sets them.
var dynamicBrokerConfigDefs = []topicConfigDef{
	{dynamicLogLevel, "info", ConfigString, "The broker's log level (debug, info, warn, error), applied at once.", logLevelName},
	{dynamicRetentionBytes, "-1", ConfigLong, "retention.bytes of topics without their own; -1 = unlimited.", intRange(-1, math.MaxInt64)},
	{dynamicRetentionMs, strconv.FormatInt(week.Milliseconds(), 10), ConfigLong, "retention.ms of topics without their own; -1 = unlimited.", intRange(-1, math.MaxInt64)},
}

// topicDefaultOf is the topic config each dynamic broker config is the
// default of.
var topicDefaultOf = map[string]string{dynamicRetentionMs: "retention.ms", dynamicRetentionBytes: "retention.bytes"}

func lookupDynamicDef(name string) (topicConfigDef, bool) {
	for _, d := range dynamicBrokerConfigDefs {
		if d.name == name {
			return d, true
		}
	}
	return topicConfigDef{}, false
}

func logLevelName(s string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("value %q not one of debug, info, warn, error", s)
	}
	return nil
}

// loggerLevels are Kafka's log4j level names for BROKER_LOGGER, as slog
// levels (TRACE and FATAL fall outside slog's four).
var loggerLevels = map[string]slog.Level{
	"TRACE": slog.LevelDebug - 4, "DEBUG": slog.LevelDebug, "INFO": slog.LevelInfo,
	"WARN": slog.LevelWarn, "ERROR": slog.LevelError, "FATAL": slog.LevelError + 4, "OFF": math.MaxInt32,
}

func loggerLevelName(l slog.Level) string {
	best, name := slog.Level(math.MinInt32), "TRACE"
	for n, v := range loggerLevels {
		if v <= l && v > best {
			best, name = v, n
		}
	}
	return name
}

// dynamicValue is a dynamic broker config's effective value and where it
// comes from.
func (b *Broker) dynamicValue(name string) (string, ConfigSource) {
	dyn := b.dynamic.Load()
	if dyn != nil {
		if v, ok := (*dyn)[b.cfg.BrokerID][name]; ok {
			return v, SourceDynamicBroker
		}
		if v, ok := (*dyn)[meta.BrokerConfigsDefault][name]; ok {
			return v, SourceDynamicDefaultBroker
		}
	}
	if name == dynamicLogLevel && b.cfg.LogLevel != nil {
		return strings.ToLower(b.staticLevel.String()), SourceStaticBroker
	}
	d, _ := lookupDynamicDef(name)
	return d.def, SourceDefault
}

// topicDefaults are the topic configs the dynamic broker configs set a
// default for (only those set dynamically).
func (b *Broker) topicDefaults() map[string]string {
	out := map[string]string{}
	for brokerName, topicName := range topicDefaultOf {
		if v, src := b.dynamicValue(brokerName); src == SourceDynamicBroker || src == SourceDynamicDefaultBroker {
			out[topicName] = v
		}
	}
	return out
}

// resolveTopic is a topic's effective config: its explicit configs over
// the dynamic broker defaults over Strata's.
func (b *Broker) resolveTopic(explicit map[string]string) TopicConfig {
	defaults := b.topicDefaults()
	if len(defaults) == 0 {
		return resolveTopicConfig(explicit)
	}
	merged := maps.Clone(defaults)
	maps.Copy(merged, explicit)
	return resolveTopicConfig(merged)
}

// describeTopic is DescribeConfigs of a topic: its explicit configs, the
// dynamic broker defaults for the others that have one (with the broker
// config's source), Strata's defaults for the rest.
func (b *Broker) describeTopic(explicit map[string]string) []ConfigEntry {
	out := describeTopicConfigs(explicit)
	for i, e := range out {
		for brokerName, topicName := range topicDefaultOf {
			if topicName != e.Name {
				continue
			}
			// Kafka's synonyms of a topic config with a broker default:
			// the topic's own value, then the broker config's sources.
			var syn []ConfigSynonym
			if v, ok := explicit[e.Name]; ok {
				syn = append(syn, ConfigSynonym{e.Name, v, SourceDynamicTopic})
			}
			out[i].Synonyms = append(syn, b.dynamicSynonyms(brokerName)...)
			if !e.Default {
				continue
			}
			if v, src := b.dynamicValue(brokerName); src == SourceDynamicBroker || src == SourceDynamicDefaultBroker {
				out[i].Value, out[i].Default, out[i].Source = v, false, src
			}
		}
	}
	return out
}

// setDynamicConfigs applies the dynamic broker configs read from etcd:
// the log level, and the topic defaults of every topic this broker hosts.
func (b *Broker) setDynamicConfigs(d meta.DynamicBrokerConfigs) {
	b.dynamic.Store(&d)
	b.applyLogLevel()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, cur := range b.topics {
		cur.cfg = b.resolveTopic(cur.meta.Configs)
		for _, p := range cur.local {
			p.setConfig(cur.cfg)
		}
	}
}

// applyLogLevel sets the slog level: the root logger's override, else
// log.level.
func (b *Broker) applyLogLevel() {
	if b.cfg.LogLevel == nil {
		return
	}
	if l := b.loggerOverride.Load(); l != nil {
		b.cfg.LogLevel.Set(*l)
		return
	}
	v, _ := b.dynamicValue(dynamicLogLevel)
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err == nil {
		b.cfg.LogLevel.Set(l)
	}
}

func (b *Broker) watchBrokerConfigs(ctx context.Context) {
	defer b.wg.Done()
	b.meta.WatchBrokerConfigs(ctx, b.setDynamicConfigs)
}

// BrokerConfigs describes this broker's configuration: the static ones
// read-only, the dynamic ones with their source.
func (b *Broker) BrokerConfigs() []ConfigEntry {
	str := func(name, v string, typ ConfigType) ConfigEntry {
		return ConfigEntry{Name: name, Value: v, ReadOnly: true, Type: typ, Source: SourceStaticBroker}
	}
	out := []ConfigEntry{
		str("broker.id", fmt.Sprint(b.cfg.BrokerID), ConfigInt),
		str("log.dirs", b.cfg.LogDir, ConfigString),
		str("auto.create.topics.enable", fmt.Sprint(b.cfg.AutoCreateTopics), ConfigBoolean),
		str("num.partitions", fmt.Sprint(b.cfg.DefaultPartitions), ConfigInt),
		str("default.replication.factor", fmt.Sprint(b.cfg.DefaultReplicationFactor), ConfigInt),
		str("log.retention.check.interval.ms", fmt.Sprint(b.cfg.RetentionCheckInterval.Milliseconds()), ConfigLong),
	}
	for _, d := range dynamicBrokerConfigDefs {
		v, src := b.dynamicValue(d.name)
		out = append(out, ConfigEntry{Name: d.name, Value: v, Default: src == SourceDefault, Type: d.typ, Doc: d.doc, Source: src,
			Synonyms: b.dynamicSynonyms(d.name)})
	}
	return out
}

// dynamicSynonyms is where a dynamic broker config's value may come
// from, most specific first: this broker's dynamic value, the cluster
// default, the static one, Strata's default (Kafka's synonym order).
func (b *Broker) dynamicSynonyms(name string) []ConfigSynonym {
	var out []ConfigSynonym
	if dyn := b.dynamic.Load(); dyn != nil {
		if v, ok := (*dyn)[b.cfg.BrokerID][name]; ok {
			out = append(out, ConfigSynonym{name, v, SourceDynamicBroker})
		}
		if v, ok := (*dyn)[meta.BrokerConfigsDefault][name]; ok {
			out = append(out, ConfigSynonym{name, v, SourceDynamicDefaultBroker})
		}
	}
	if name == dynamicLogLevel && b.cfg.LogLevel != nil {
		out = append(out, ConfigSynonym{name, strings.ToLower(b.staticLevel.String()), SourceStaticBroker})
	}
	d, _ := lookupDynamicDef(name)
	return append(out, ConfigSynonym{name, d.def, SourceDefault})
}

// BrokerDefaultConfigs describes the cluster-wide dynamic broker configs
// (DescribeConfigs of the BROKER resource ""), as Kafka lists them: only
// those set.
func (b *Broker) BrokerDefaultConfigs() []ConfigEntry {
	var out []ConfigEntry
	dyn := b.dynamic.Load()
	if dyn == nil {
		return nil
	}
	for _, d := range dynamicBrokerConfigDefs {
		if v, ok := (*dyn)[meta.BrokerConfigsDefault][d.name]; ok {
			out = append(out, ConfigEntry{Name: d.name, Value: v, Type: d.typ, Doc: d.doc, Source: SourceDynamicDefaultBroker})
		}
	}
	return out
}

// staticBrokerConfig reports whether name is one of the read-only broker
// configs.
func (b *Broker) staticBrokerConfig(name string) bool {
	for _, e := range b.BrokerConfigs() {
		if e.Name == name {
			return e.ReadOnly
		}
	}
	return false
}

// ErrBrokerNotFound: a broker resource names no broker id.
var ErrBrokerNotFound = errors.New("no such broker")

// AlterBrokerConfigs changes the dynamic configs of one broker (resource
// "<id>") or of every broker (resource ""); with replace (legacy
// AlterConfigs) the changes become the whole set. The change is in etcd
// and applied here before it returns; other brokers apply it from their
// watch. INVALID_REQUEST for a static config, INVALID_CONFIG for an
// unknown config or a bad value.
func (b *Broker) AlterBrokerConfigs(ctx context.Context, resource string, changes []ConfigChange, replace, validateOnly bool) error {
	scope := meta.BrokerConfigsDefault
	if resource != "" {
		id, err := strconv.ParseInt(resource, 10, 32)
		if err != nil || id < 0 {
			return fmt.Errorf("%w: broker resource %q is not a broker id", kerr.InvalidRequest, resource)
		}
		scope = int32(id)
	}
	apply := func(cur map[string]string) error {
		if replace {
			clear(cur)
		}
		for _, c := range changes {
			d, ok := lookupDynamicDef(c.Name)
			switch {
			case !ok && b.staticBrokerConfig(c.Name):
				return fmt.Errorf("%w: broker config %s cannot be updated dynamically (it is a strata serve flag)", kerr.InvalidRequest, c.Name)
			case !ok:
				return fmt.Errorf("%w: unknown broker config %q", kerr.InvalidConfig, c.Name)
			}
			switch c.Op {
			case OpSet:
				if c.Value == nil {
					return fmt.Errorf("%w: %s: null value", kerr.InvalidConfig, c.Name)
				}
				if err := d.isValid(*c.Value); err != nil {
					return fmt.Errorf("%w: %s: %v", kerr.InvalidConfig, c.Name, err)
				}
				cur[c.Name] = *c.Value
			case OpDelete:
				delete(cur, c.Name)
			default:
				return fmt.Errorf("%w: %s is not a list config", kerr.InvalidConfig, c.Name)
			}
		}
		if validateOnly {
			return errValidateOnly
		}
		return nil
	}
	next, err := b.meta.UpdateBrokerConfigs(ctx, scope, apply)
	if errors.Is(err, errValidateOnly) {
		return nil
	}
	if err != nil {
		var kErr *kerr.Error
		if errors.As(err, &kErr) {
			return err
		}
		return fmt.Errorf("%w: broker configs: %v", kerr.KafkaStorageError, err)
	}
	// Read your writes: apply it here without waiting for the watch.
	d := meta.DynamicBrokerConfigs{}
	if cur := b.dynamic.Load(); cur != nil {
		for k, v := range *cur {
			d[k] = v
		}
	}
	if len(next) == 0 {
		delete(d, scope)
	} else {
		d[scope] = next
	}
	b.setDynamicConfigs(d)
	return nil
}

// errValidateOnly stops a validate-only change before it is written.
var errValidateOnly = errors.New("validate only")

// BrokerLoggers describes the BROKER_LOGGER resource: the root logger's
// level.
func (b *Broker) BrokerLoggers() []ConfigEntry {
	e := ConfigEntry{Name: rootLogger, Type: ConfigString, Source: SourceDefault, Default: true,
		Doc: "The broker's log level (log4j names: TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF); set here for this process only."}
	level := slog.LevelInfo
	if b.cfg.LogLevel != nil {
		level = b.cfg.LogLevel.Level()
	}
	if b.loggerOverride.Load() != nil {
		e.Source, e.Default = SourceDynamicBrokerLogger, false
	}
	e.Value = loggerLevelName(level)
	return []ConfigEntry{e}
}

// AlterBrokerLoggers sets (or, deleted, resets to log.level) the root
// logger's level in this process. INVALID_CONFIG for another logger or an
// unknown level; INVALID_REQUEST for list operations.
func (b *Broker) AlterBrokerLoggers(changes []ConfigChange, validateOnly bool) error {
	var set *slog.Level
	reset := false
	for _, c := range changes {
		if c.Name != rootLogger {
			return fmt.Errorf("%w: unknown logger %q (Strata has one: root)", kerr.InvalidConfig, c.Name)
		}
		switch c.Op {
		case OpSet:
			if c.Value == nil {
				return fmt.Errorf("%w: %s: null level", kerr.InvalidConfig, c.Name)
			}
			l, ok := loggerLevels[strings.ToUpper(*c.Value)]
			if !ok {
				return fmt.Errorf("%w: %s: level %q not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF", kerr.InvalidConfig, c.Name, *c.Value)
			}
			set, reset = &l, false
		case OpDelete:
			set, reset = nil, true
		default:
			return fmt.Errorf("%w: logger levels are not lists", kerr.InvalidRequest)
		}
	}
	if validateOnly || b.cfg.LogLevel == nil {
		return nil
	}
	if set != nil {
		b.loggerOverride.Store(set)
	} else if reset {
		b.loggerOverride.Store(nil)
	}
	b.applyLogLevel()
	return nil
}
