//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package state

import (
	"errors"
	"os"
)

var errNoFlock = errors.New("local state locking needs flock, which this system lacks; keep the state in S3 (--state s3://bucket/prefix)")

func tryLock(*os.File) (bool, error) { return false, errNoFlock }

func unlockFile(*os.File) error { return errNoFlock }
