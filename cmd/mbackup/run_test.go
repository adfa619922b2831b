package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	cases := []struct {
		args     []string
		code     int
		out, err string // substrings expected in stdout and stderr
		notOut   string
	}{
		{args: nil, code: exitUsage, err: "Usage: mbackup"},
		{args: []string{"help"}, code: exitOK, out: "130  interrupted"},
		{args: []string{"help"}, code: exitOK, out: "3    partial snapshot"},
		{args: []string{"help", "version"}, code: exitOK, out: "usage: mbackup version"},
		{args: []string{"help", "nope"}, code: exitUsage, err: `unknown command "nope"`},
		{args: []string{"version"}, code: exitOK, out: "mbackup devel (go"},
		{args: []string{"-v", "version"}, code: exitOK, out: "mbackup devel"},
		{args: []string{"version", "extra"}, code: exitUsage, err: `unexpected argument "extra"`},
		{args: []string{"version", "--bogus"}, code: exitUsage, err: "flag provided but not defined: -bogus"},
		{args: []string{"--bogus", "version"}, code: exitUsage, err: "flag provided but not defined: -bogus"},
		{args: []string{"verison"}, code: exitUsage, err: `unknown command "verison" (did you mean "version"?)`},
		{args: []string{"frobnicate"}, code: exitUsage, err: `run "mbackup help"`},
		{args: []string{"--config", "/nonexistent.yaml", "version"}, code: exitOK, out: "mbackup"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, "_"), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, strings.NewReader(""), &out, &errb)
			if code != c.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), c.out) {
				t.Errorf("stdout %q does not contain %q", out.String(), c.out)
			}
			if !strings.Contains(errb.String(), c.err) {
				t.Errorf("stderr %q does not contain %q", errb.String(), c.err)
			}
		})
	}
}

func TestInterruptedExitCode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var errb bytes.Buffer
	if code := report(ctx, &env{stderr: &errb}, context.Canceled); code != exitInterrupted {
		t.Errorf("cancelled run exits %d, want %d", code, exitInterrupted)
	}
	if code := report(context.Background(), &env{stderr: &errb}, context.Canceled); code != exitError {
		t.Errorf("a cancelled operation without a signal exits %d, want %d", code, exitError)
	}
}
