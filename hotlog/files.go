package hotlog

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/stratalog/strata/fileutil"
)

// DefaultMaxOpenFiles is the cap of the file cache used by a Log whose
// Config names none.
const DefaultMaxOpenFiles = 1024

// FileCache bounds the file descriptors of the segment files (.log, .index,
// .timeindex) of every Log that shares it, independently of how many
// partitions and segments there are: a file is opened when first used and
// closed again, least recently used first, when the cap is reached. A file
// in use (a read, write or fsync in progress) is never closed: when all of
// the cap are in use, opening one more waits until one is released, so the
// process never holds more than the cap of segment files. (A user holds
// one file at a time, so waiting cannot deadlock.)
//
// Closing a file with unsynced writes loses nothing: the dirty pages stay
// in the page cache and the next fsync, through a new descriptor, writes
// them; Linux (4.16 and later) reports a writeback error not seen yet to
// that fsync even though the descriptor is new.
type FileCache struct {
	mu   sync.Mutex
	room *sync.Cond // signalled when a file is released or closed
	max  int
	open int        // descriptors open, in use or idle
	idle *list.List // of *lazyFile open with no user, least recently used first
}

// NewFileCache returns a cache keeping at most max idle files open (at
// least 1).
func NewFileCache(limit int) *FileCache {
	c := &FileCache{max: max(limit, 1), idle: list.New()}
	c.room = sync.NewCond(&c.mu)
	return c
}

var defaultFiles = NewFileCache(DefaultMaxOpenFiles)

// Open is how many segment files are open now.
func (c *FileCache) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// Max is the cap.
func (c *FileCache) Max() int { return c.max }

// lazyFile is one segment file, open only while used or cached.
type lazyFile struct {
	c    *FileCache
	path string
	f    *os.File // nil while closed
	refs int
	elem *list.Element // in c.idle while open and unused
}

func (c *FileCache) file(path string) *lazyFile { return &lazyFile{c: c, path: path} }

// evictLocked closes idle files until room more fit under the cap.
func (c *FileCache) evictLocked(room int) {
	for c.open+room > c.max && c.idle.Len() > 0 {
		lf := c.idle.Remove(c.idle.Front()).(*lazyFile)
		lf.elem = nil
		lf.f.Close() // read or written through fsynced or page-cached data only: see FileCache
		lf.f = nil
		c.open--
	}
}

// acquire returns the open file, opening it (read-write; created when
// create is set) if needed, and keeps it open until release.
func (lf *lazyFile) acquire(create bool) (*os.File, error) {
	c := lf.c
	c.mu.Lock()
	if lf.f != nil {
		if lf.elem != nil {
			c.idle.Remove(lf.elem)
			lf.elem = nil
		}
		lf.refs++
		f := lf.f
		c.mu.Unlock()
		return f, nil
	}
	for {
		c.evictLocked(1)
		if c.open < c.max {
			break
		}
		c.room.Wait()    // every file is in use
		if lf.f != nil { // opened by another user meanwhile
			c.mu.Unlock()
			return lf.acquire(create)
		}
	}
	c.open++ // reserved while opening without the lock
	c.mu.Unlock()
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(lf.path, flag, 0o644)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.open--
		c.room.Signal()
		return nil, err
	}
	if lf.f != nil { // opened meanwhile by another user
		f.Close()
		c.open--
		c.room.Signal()
	} else {
		lf.f = f
	}
	lf.refs++
	return lf.f, nil
}

// adopt makes f, just created by the caller, the open file, idle; like
// acquire, it waits while every file of the cap is in use.
func (lf *lazyFile) adopt(f *os.File) {
	c := lf.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.evictLocked(1); c.open >= c.max; c.evictLocked(1) {
		c.room.Wait()
	}
	c.open++
	lf.f = f
	lf.elem = c.idle.PushBack(lf)
}

func (lf *lazyFile) release() {
	c := lf.c
	c.mu.Lock()
	defer c.mu.Unlock()
	lf.refs--
	if lf.refs == 0 && lf.f != nil {
		lf.elem = c.idle.PushBack(lf)
		c.evictLocked(0)
		c.room.Signal()
	}
}

// use runs fn with the open file.
func (lf *lazyFile) use(create bool, fn func(f *os.File) error) error {
	f, err := lf.acquire(create)
	if err != nil {
		return err
	}
	defer lf.release()
	return fn(f)
}

// close closes the file if open. The caller makes sure nobody uses it
// (segments close with Log.lifeMu held for writing).
func (lf *lazyFile) close() error {
	c := lf.c
	c.mu.Lock()
	if lf.f == nil {
		c.mu.Unlock()
		return nil
	}
	if lf.refs > 0 {
		c.mu.Unlock()
		return errors.New("hotlog: closing a segment file in use")
	}
	if lf.elem != nil {
		c.idle.Remove(lf.elem)
		lf.elem = nil
	}
	f := lf.f
	lf.f = nil
	c.open--
	c.room.Signal()
	c.mu.Unlock()
	return f.Close()
}

// transient runs fn, which opens up to n files of its own for a moment (a
// checkpoint's temp file, a directory to fsync), within the cap: a burst
// of first appends on thousands of partitions, each writing its
// leader-epoch checkpoint, must not run the process out of descriptors.
func (c *FileCache) transient(n int, fn func() error) error {
	n = min(n, c.max)
	c.mu.Lock()
	for c.evictLocked(n); c.open+n > c.max; c.evictLocked(n) {
		c.room.Wait()
	}
	c.open += n
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.open -= n
		c.room.Broadcast()
		c.mu.Unlock()
	}()
	return fn()
}

// syncDir fsyncs the log directory within the file cap.
func (l *Log) syncDir() error {
	return l.files.transient(1, func() error {
		if err := fileutil.SyncDir(l.dir); err != nil {
			return fmt.Errorf("%w: %w", errFsyncCall, err)
		}
		return nil
	})
}

// writeFile atomically replaces a file of the log directory within the
// file cap (the temp file and the directory).
func (l *Log) writeFile(path string, data []byte) error {
	return l.files.transient(2, func() error { return fileutil.WriteFile(path, data, 0o644) })
}

// writeSnapshots writes snapshot files within the file cap.
func (l *Log) writeSnapshots(snaps []pendingSnapshot) (n int, err error) {
	err = l.files.transient(1, func() error {
		n, err = writeSnapshots(l.dir, snaps)
		return err
	})
	return n, err
}
