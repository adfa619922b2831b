package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"mbackup/internal/dump"
	"mbackup/internal/snapshot"
)

func TestProgressCountsActiveArtifacts(t *testing.T) {
	var screen bytes.Buffer
	p := &progress{w: &screen, active: map[string]*counting{}}
	written, release := make(chan struct{}), make(chan struct{})
	js := []snapshot.Job{{Component: "postgres", Name: "mastodon", Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
		w.Write(make([]byte, 3000))
		close(written)
		<-release
		return dump.Info{}, nil
	}}}
	p.wrap(js)
	done := make(chan error)
	go func() { _, err := js[0].Produce(context.Background(), io.Discard); done <- err }()
	<-written
	if line := p.line(); !strings.Contains(line, "postgres/mastodon 2.9 KiB") {
		t.Errorf("progress line %q", line)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if line := p.line(); line != "" {
		t.Errorf("progress line after the artifact ended: %q", line)
	}
	if isTerminal(&screen) {
		t.Error("a buffer is not a terminal")
	}
}
