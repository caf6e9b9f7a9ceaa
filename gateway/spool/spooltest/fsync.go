// Package spooltest holds what measurements of the spool share: a file
// system that times the fsyncs of its write-ahead log.
package spooltest

import (
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FsyncTimer is a vfs.FS (for spool.WithFS) that records how long each
// fsync of a log file (*.log) takes: the spool's group commits.
type FsyncTimer struct {
	vfs.FS
	mu  sync.Mutex
	lat []time.Duration
}

// NewFsyncTimer wraps fs.
func NewFsyncTimer(fs vfs.FS) *FsyncTimer { return &FsyncTimer{FS: fs} }

// Create is part of vfs.FS.
func (fs *FsyncTimer) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrap(name, f, err)
}

// ReuseForWrite is part of vfs.FS.
func (fs *FsyncTimer) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrap(newname, f, err)
}

// Unwrap returns the wrapped file system.
func (fs *FsyncTimer) Unwrap() vfs.FS { return fs.FS }

// Take returns the durations recorded since the last call.
func (fs *FsyncTimer) Take() []time.Duration {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	lat := fs.lat
	fs.lat = nil
	return lat
}

func (fs *FsyncTimer) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return timedLog{File: f, fs: fs}, nil
}

func (fs *FsyncTimer) record(start time.Time) {
	d := time.Since(start)
	fs.mu.Lock()
	fs.lat = append(fs.lat, d)
	fs.mu.Unlock()
}

type timedLog struct {
	vfs.File
	fs *FsyncTimer
}

func (f timedLog) Sync() error {
	defer f.fs.record(time.Now())
	return f.File.Sync()
}

func (f timedLog) SyncData() error {
	defer f.fs.record(time.Now())
	return f.File.SyncData()
}
