package sqlite

import (
	"errors"
	"fmt"
)

// ErrLocked is what a *LockedError matches with errors.Is.
var ErrLocked = errors.New("sqlite: the database file is in use by another Backend")

// LockedError is Open's error when another Backend, in this process or
// another, holds the database file's lock file. One process owns a file:
// its Backend's one write connection is what makes group commit and the
// queue's wake-ups work. Close the other Backend (or stop the other
// process), or give each process a file of its own; for several
// processes on one database, use the postgres package.
type LockedError struct {
	// LockFile is the lock file's path (the database's path + ".lock").
	LockFile string
	// PID is the process ID the holder wrote in the lock file; zero when
	// unknown.
	PID int
}

// Error names the lock file and its holder and says what to do.
func (e *LockedError) Error() string {
	who := "another Backend"
	if e.PID > 0 {
		who = fmt.Sprintf("process %d", e.PID)
	}
	return fmt.Sprintf("sqlite: %s holds %s: one process (one Backend) owns a database file at a time; close that Backend or stop that process, or use another file (several processes on one database need the postgres package)", who, e.LockFile)
}

// Is reports that a LockedError is an ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }
