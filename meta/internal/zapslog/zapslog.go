// Package zapslog adapts log/slog to the zap logger that etcd's client and
// server want, so etcd's messages land in Strata's log. It is shared by meta
// (the client) and meta/embedetcd (the embedded server).
package zapslog

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a zap logger (what etcd's server and client want) that
// forwards entries at or above min to l, so etcd's messages land in Strata's
// log with the same handler, not on stderr. While *quiet is true (say, during
// a deliberate shutdown, when etcd reports its closed listeners as errors),
// entries go to l at debug level. quiet may be nil.
func New(l *slog.Logger, min zapcore.Level, quiet *atomic.Bool) *zap.Logger {
	if l == nil {
		l = slog.Default()
	}
	return zap.New(&slogCore{l: l, min: min, quiet: quiet})
}

type slogCore struct {
	l      *slog.Logger
	min    zapcore.Level
	quiet  *atomic.Bool
	fields []zapcore.Field
}

func (c *slogCore) Enabled(lvl zapcore.Level) bool { return lvl >= c.min }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{l: c.l, min: c.min, quiet: c.quiet, fields: append(c.fields[:len(c.fields):len(c.fields)], fields...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	attrs = append(attrs, slog.String("component", "etcd"))
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	lvl := slogLevel(e.Level)
	if c.quiet != nil && c.quiet.Load() {
		lvl = slog.LevelDebug
	}
	c.l.LogAttrs(context.Background(), lvl, e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}
