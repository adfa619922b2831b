// Package buildinfo says which mbackup a binary is: its version and the
// commit and time it was built from.
//
// Invariants: what the release build stamps (-ldflags -X) wins over what
// Go recorded in the binary; a commit built from a modified tree is
// marked "-dirty"; nothing is ever guessed: what is not known is "devel"
// (the version), "unknown" (the commit) or "" (the time).
package buildinfo

import "runtime/debug"

// Version is stamped, else the module version of bi, else "devel". bi may
// StampedVersion is the release version the binary was stamped with at
// link time (package main copies its -ldflags variable here before
// anything runs); "" in a development build.
var StampedVersion string

// Current is this binary's version, for anything that names it (the
// user agent of pings): StampedVersion, else the module's, else "devel".
func Current() string { return Version(StampedVersion, Read()) }

// be nil (the binary has no build info).
func Version(stamped string, bi *debug.BuildInfo) string {
	if stamped != "" {
		return stamped
	}
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Commit returns the commit the binary was built from and the build or
// commit time: the stamped ones, else the VCS stamp of bi ("-dirty" when
// the tree was modified); "unknown" and "" when neither says.
func Commit(stampedRev, stampedTime string, bi *debug.BuildInfo) (rev, when string) {
	rev, when = stampedRev, stampedTime
	if rev != "" && when != "" {
		return rev, when
	}
	var vcsRev, vcsTime string
	var modified bool
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRev = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if rev == "" {
		rev = vcsRev
		if rev != "" && modified {
			rev += "-dirty"
		}
	}
	if when == "" {
		when = vcsTime
	}
	if rev == "" {
		rev = "unknown"
	}
	return rev, when
}

// Read is the build info of the running binary; nil when it has none.
func Read() *debug.BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return bi
}
