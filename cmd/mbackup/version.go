package main

import (
	"context"
	"fmt"
	"runtime"

	"mbackup/internal/buildinfo"
)

// version, commit and date are set at build time (scripts/release.sh) with
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=<hash> -X main.date=<RFC 3339>"
//
// Otherwise the module version and the VCS stamp of the build info are
// used, when the binary has them.
var (
	version = ""
	commit  = ""
	date    = ""
)

// init hands the stamped version to the packages that name this binary.
func init() { buildinfo.StampedVersion = version }

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("version")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("version: unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintf(e.stdout, "mbackup %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	c, d := buildCommit()
	if d != "" {
		fmt.Fprintf(e.stdout, "commit %s, built %s\n", c, d)
	} else {
		fmt.Fprintf(e.stdout, "commit %s\n", c)
	}
	if bi := buildinfo.Read(); e.verbose && bi != nil {
		for _, d := range bi.Deps {
			fmt.Fprintf(e.stdout, "  %s %s\n", d.Path, d.Version)
		}
	}
	return nil
}

// buildVersion is the stamped version, else the module's, else "devel".
func buildVersion() string { return buildinfo.Version(version, buildinfo.Read()) }

// buildCommit returns the commit the binary was built from ("unknown"
// when neither -ldflags nor the build info says) and the build or commit
// time ("" when unknown).
func buildCommit() (rev, when string) { return buildinfo.Commit(commit, date, buildinfo.Read()) }
