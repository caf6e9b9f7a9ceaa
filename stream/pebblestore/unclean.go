package pebblestore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

const (
	// markerName is the file that marks a database as possibly ahead of its
	// changelog. It exists while the database is open, survives an unclean
	// stop and makes the next open discard the database.
	markerName = "UNCLEAN"
	// lockName is Pebble's lock file, which is kept while a database
	// directory is wiped under that lock.
	lockName = "LOCK"
	// maxMarkerLog caps how much of an old marker's content is logged.
	maxMarkerLog = 256
)

// dirFS returns the file system the database at path lives on.
func dirFS(o *pebble.Options) vfs.FS {
	if o.FS != nil {
		return o.FS
	}
	return vfs.Default
}

// checkLayout rejects options under which wiping the database directory
// would not discard all of the database's state.
func checkLayout(path string, o *pebble.Options) error {
	if o.WALDir != "" && o.WALDir != path {
		return fmt.Errorf("pebblestore: %s: a separate WALDir is not supported", path)
	}
	if o.WALFailover != nil {
		return fmt.Errorf("pebblestore: %s: WALFailover is not supported", path)
	}
	return nil
}

// markerContent describes why a marker was written; it is logged when the
// marker is found.
func markerContent(reason string) []byte {
	host, _ := os.Hostname()
	return fmt.Appendf(nil, "%s at %s by pid %d on %s\n",
		reason, time.Now().UTC().Format(time.RFC3339Nano), os.Getpid(), host)
}

// markerExists reports whether the marker is present in dir and, if so, a
// short description read from it (best effort).
func markerExists(fs vfs.FS, dir string) (bool, string, error) {
	name := fs.PathJoin(dir, markerName)
	if _, err := fs.Stat(name); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, "", nil
		}
		return false, "", fmt.Errorf("pebblestore: stat %s: %w", name, err)
	}
	var content string
	if f, err := fs.Open(name); err == nil {
		b, _ := io.ReadAll(io.LimitReader(f, maxMarkerLog))
		_ = f.Close()
		content = strings.TrimSpace(string(b))
	}
	return true, content, nil
}

// writeMarker durably creates (or truncates) the marker in dir: the file and
// the directory entry are synced before it returns.
func writeMarker(fs vfs.FS, dir, reason string) error {
	name := fs.PathJoin(dir, markerName)
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("pebblestore: create %s: %w", name, err)
	}
	_, err = f.Write(markerContent(reason))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pebblestore: write %s: %w", name, err)
	}
	return syncDir(fs, dir)
}

// removeMarker durably removes the marker from dir. A missing marker is not
// an error.
func removeMarker(fs vfs.FS, dir string) error {
	name := fs.PathJoin(dir, markerName)
	if err := fs.Remove(name); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("pebblestore: remove %s: %w", name, err)
	}
	return syncDir(fs, dir)
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("pebblestore: open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pebblestore: sync directory %s: %w", dir, err)
	}
	return nil
}

// wipeDir removes everything in dir except Pebble's lock file and the
// marker, then syncs dir. The caller holds the directory lock. While the
// marker is present an interrupted wipe is simply repeated by the next open,
// so a partially deleted database is never opened.
func wipeDir(fs vfs.FS, dir string) error {
	names, err := fs.List(dir)
	if err != nil {
		return fmt.Errorf("pebblestore: list %s: %w", dir, err)
	}
	for _, n := range names {
		if n == lockName || n == markerName {
			continue
		}
		if err := fs.RemoveAll(fs.PathJoin(dir, n)); err != nil {
			return fmt.Errorf("pebblestore: wipe %s: %w", dir, err)
		}
	}
	return syncDir(fs, dir)
}

// discardClosed wipes the closed database at dir now: it takes the directory
// lock, records the intent with the marker, deletes the database files and
// finally removes the marker. A directory that does not exist is left alone.
func discardClosed(fs vfs.FS, dir string) (err error) {
	if _, err := fs.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("pebblestore: stat %s: %w", dir, err)
	}
	lock, err := pebble.LockDirectory(dir, fs)
	if err != nil {
		return fmt.Errorf("pebblestore: discard %s: %w", dir, err)
	}
	defer func() { err = errors.Join(err, lock.Close()) }()
	if err := writeMarker(fs, dir, "discarded"); err != nil {
		return err
	}
	if err := wipeDir(fs, dir); err != nil {
		return err
	}
	return removeMarker(fs, dir)
}
