// Package fileutil owns the durable file operations every Strata package
// needs: atomic replacement of a small file (temp file, fsync, rename,
// fsync of the directory), fsync of a directory, a move that survives a
// power loss, and the exclusive lock on a data directory.
//
// It is floor 0: it imports no Strata package, so hotlog, meta, objstore
// and the composition root can all use it.
package fileutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked reports that another process holds a data directory's lock.
var ErrLocked = errors.New("fileutil: directory is locked by another process")

// WriteFile atomically and durably replaces path with data: after it
// returns nil, a crash leaves either the old content or the new one,
// never a torn file, and the new name survives a power loss.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if err := Replace(path, data, perm); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Replace is WriteFile without the directory fsync, for callers that
// write several files in one directory and fsync it once afterwards
// (until then, the rename may be lost by a power loss, but the file is
// never torn).
func Replace(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return f.commit(false)
}

// File is a temporary file that replaces its target when committed.
type File struct {
	*os.File
	target string
	done   bool
}

// Create starts an atomic write of path: a temporary file in the same
// directory (so that the rename stays on one file system). Write to it,
// then Commit or Abort.
func Create(path string, perm os.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create temp file for %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	return &File{File: f, target: path}, nil
}

// Commit fsyncs the file, renames it over the target and fsyncs the
// directory. On error the temporary file is removed.
func (f *File) Commit() error { return f.commit(true) }

func (f *File) commit(syncDir bool) error {
	if f.done {
		return fmt.Errorf("fileutil: %s already committed or aborted", f.target)
	}
	f.done = true
	tmp := f.Name()
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.target)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace %s: %w", f.target, err)
	}
	if syncDir {
		return SyncDir(filepath.Dir(f.target))
	}
	return nil
}

// Abort closes and removes the temporary file; the target is untouched.
// Abort after Commit does nothing, so it can be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// SyncDir fsyncs a directory, making the creations, renames and removals
// of its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// Rename moves from to to and fsyncs both parent directories, so that
// after a power loss the entry is in exactly one of the two places.
func Rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	if err := SyncDir(filepath.Dir(to)); err != nil {
		return err
	}
	if a, b := filepath.Dir(from), filepath.Dir(to); a != b {
		return SyncDir(a)
	}
	return nil
}

// Lock is an exclusive lock on a directory, held until Unlock or the
// process exits (flock on <dir>/.lock: the kernel drops it when the
// process dies, so a crash never leaves a stale lock).
type Lock struct{ f *os.File }

// LockDir takes the lock on dir without waiting; ErrLocked when another
// process holds it.
func LockDir(dir string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// DiskUsage returns the size of the file system holding path and the bytes
// an unprivileged writer may still use on it (Java's getTotalSpace and
// getUsableSpace, which Kafka's DescribeLogDirs reports).
func DiskUsage(path string) (total, usable int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return -1, -1, fmt.Errorf("fileutil: statfs %s: %w", path, err)
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, nil
}
