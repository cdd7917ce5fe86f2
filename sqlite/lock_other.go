//go:build !unix

package sqlite

import (
	"fmt"
	"os"
)

// lockFile opens path without locking it: this platform has no flock, so
// a second process on the same file is not refused (see Open).
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open the lock file: %w", err)
	}
	return f, nil
}

func unlockFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}
