package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Sizes of the disk and TCP references' writes.
const (
	fsyncChunk      = 1 << 20 // a large group commit
	smallFsyncChunk = 4 << 10 // one small acks=all batch
	tcpChunk        = 1 << 20
)

// diskRef appends to a new file in dir: chunks of fsyncChunk with an
// fsync after each (the most acks=all can get from this disk), chunks of
// smallFsyncChunk with an fsync after each (the fsync rate), and chunks of
// fsyncChunk without fsync (the page cache, for scale).
func diskRef(ctx context.Context, dir string, d time.Duration) (DiskRef, error) {
	var r DiskRef
	n, el, _, err := appendFile(ctx, filepath.Join(dir, "fsync-ref"), fsyncChunk, true, d)
	if err != nil {
		return r, err
	}
	r.FsyncMBps = float64(n) * fsyncChunk / 1e6 / el.Seconds()
	n, el, lat, err := appendFile(ctx, filepath.Join(dir, "small-fsync-ref"), smallFsyncChunk, true, d)
	if err != nil {
		return r, err
	}
	r.SmallFsyncsPS = float64(n) / el.Seconds()
	r.SmallFsyncP50, r.SmallFsyncP99, _ = percentiles(lat)
	n, el, _, err = appendFile(ctx, filepath.Join(dir, "write-ref"), fsyncChunk, false, d)
	if err != nil {
		return r, err
	}
	r.NoFsyncMBps = float64(n) * fsyncChunk / 1e6 / el.Seconds()
	return r, nil
}

// appendFile writes chunks of size to a new file at path for d (fsyncing
// after each if sync) and returns how many, the time they took (the last
// fsync included) and each write's latency. The file is removed after.
func appendFile(ctx context.Context, path string, size int, sync bool, d time.Duration) (int64, time.Duration, []time.Duration, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, 0, nil, err
	}
	defer os.Remove(path)
	defer f.Close()
	buf := randomValue(size)
	var lat []time.Duration
	var n int64
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			return 0, 0, nil, fmt.Errorf("disk reference: %w", err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				return 0, 0, nil, fmt.Errorf("disk reference: fsync: %w", err)
			}
		}
		lat = append(lat, time.Since(t))
		n++
	}
	el := time.Since(start)
	if !sync {
		// Dirty pages are the next run's problem otherwise.
		if err := f.Sync(); err != nil {
			return 0, 0, nil, fmt.Errorf("disk reference: fsync: %w", err)
		}
	}
	return n, el, lat, ctx.Err()
}

// tcpRef is the bandwidth of one loopback TCP stream: one goroutine writes
// tcpChunk buffers, another reads and drops them.
func tcpRef(ctx context.Context, d time.Duration) (TCPRef, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return TCPRef{}, err
	}
	defer ln.Close()
	read := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			read <- -1
			return
		}
		defer c.Close()
		n, _ := io.CopyBuffer(io.Discard, c, make([]byte, tcpChunk))
		read <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return TCPRef{}, err
	}
	buf := randomValue(tcpChunk)
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return TCPRef{}, fmt.Errorf("loopback reference: %w", err)
		}
	}
	c.Close()
	n := <-read
	el := time.Since(start)
	if n <= 0 {
		return TCPRef{}, errors.New("loopback reference: nothing read")
	}
	return TCPRef{MBps: float64(n) / 1e6 / el.Seconds()}, nil
}
