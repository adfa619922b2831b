package sandbox

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// stopper stops a server once: its process, then its files.
type stopper struct {
	once sync.Once
	err  error
}

// stop stops proc (sig, then SIGKILL of its process group after
// StopTimeout; nil when it never started) and removes sock, when set, and
// base. Only the first call does it; every call returns its error.
func (s *stopper) stop(what string, proc *Process, sig syscall.Signal, sock, base string) error {
	s.once.Do(func() {
		var errs []error
		if proc != nil {
			errs = append(errs, proc.Stop(sig))
		}
		if sock != "" {
			errs = append(errs, os.RemoveAll(sock))
		}
		errs = append(errs, os.RemoveAll(base))
		if err := errors.Join(errs...); err != nil {
			s.err = fmt.Errorf("sandbox: stop %s in %s: %w", what, base, err)
		}
	})
	return s.err
}
