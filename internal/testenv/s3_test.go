package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestS3(t *testing.T) {
	dir := t.TempDir()
	s, stop, err := LaunchS3(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, err := c.BucketExists(ctx, s.Bucket); !ok || err != nil {
		t.Errorf("bucket %s exists = %v, %v", s.Bucket, ok, err)
	}
	if err := s.CreateBucket(ctx, "versioned", true); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetBucketVersioning(ctx, "versioned"); err != nil || !v.Enabled() {
		t.Errorf("versioning of the versioned bucket = %+v, %v", v, err)
	}
	args := strings.Join(s.cmd.Args, " ")
	if strings.Contains(args, s.SecretAccessKey) {
		t.Errorf("the secret is in the server's argv: %s", args)
	}
	stop()
	stop()
	if _, err := os.Stat(filepath.Join(dir, "s3-data")); !os.IsNotExist(err) {
		t.Errorf("data left after stop: %v", err)
	}
}

func TestS3MissingBinary(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	t.Setenv("GOBIN", "")
	t.Setenv("GOPATH", empty)
	t.Setenv("HOME", empty)
	_, _, err := LaunchS3(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), S3Install) {
		t.Errorf("LaunchS3 without versitygw = %v; want the install command", err)
	}
}
