package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/testenv"
)

// mirrorObjects are the source objects of mirrorSetup.
var mirrorObjects = map[string]string{
	"media_attachments/files/110/000/001/original/a.png": "png bytes",
	"accounts/avatars/000/000/001/original/me.jpg":       "jpg bytes",
	"cache/custom_emojis/images/000/blob.gif":            "gif bytes",
}

// mirrorSetup starts an S3 server whose bucket holds three Mastodon-like
// objects (one under cache/) and writes a config whose media section
// mirrors it, with extra (YAML lines of the media section) added.
func mirrorSetup(t *testing.T, extra string) (src *testenv.S3, client *minio.Client, dir, cfg string) {
	ctx := context.Background()
	src = testenv.StartS3(t)
	client, err := src.Client()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range mirrorObjects {
		if _, err := client.PutObject(ctx, src.Bucket, k, strings.NewReader(v), int64(len(v)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dir, cfg = setup(t, "")
	os.WriteFile(filepath.Join(dir, "media.key"), []byte(src.SecretAccessKey), 0o600)
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(text, fmt.Sprintf(`media:
  source: {endpoint: "http://%s", region: %s, bucket: %s, access_key_id: %s, secret_access_key_file: media.key}
`, src.Endpoint, src.Region, src.Bucket, src.AccessKeyID)+extra...), 0o600)
	return src, client, dir, cfg
}

// TestMirrorCommand: dry run, first run, no-op run, a deletion at the
// source, and the way back into a new bucket, through the CLI.
func TestMirrorCommand(t *testing.T) {
	ctx := context.Background()
	src, client, dir, cfg := mirrorSetup(t, `  delete: true
  max_delete: 50%
`)
	store := filepath.Join(dir, "store")

	steps := []struct {
		args []string
		want string
	}{
		{[]string{"mirror", "--dry-run"}, "would copy 3 objects"},
		{[]string{"mirror"}, "copied 3 objects (27 B), 0 unchanged, deleted 0"},
		{[]string{"mirror"}, "copied 0 objects (0 B), 3 unchanged, deleted 0"},
	}
	for i, s := range steps {
		code, out, errOut := mbackup(t, append([]string{"--config", cfg}, s.args...)...)
		if code != exitOK || !strings.Contains(out, s.want) {
			t.Fatalf("step %d %v exited %d, want %q:\n%s%s", i, s.args, code, s.want, out, errOut)
		}
		if i == 0 {
			if _, err := os.Stat(filepath.Join(store, "media")); err == nil {
				t.Fatal("the dry run wrote to the store")
			}
		}
	}
	for k, v := range mirrorObjects {
		if b, err := os.ReadFile(filepath.Join(store, "media", k)); err != nil || string(b) != v {
			t.Errorf("mirrored %s: %q, %v", k, b, err)
		}
	}
	client.RemoveObject(ctx, src.Bucket, "cache/custom_emojis/images/000/blob.gif", minio.RemoveObjectOptions{})
	if code, out, _ := mbackup(t, "--config", cfg, "mirror"); code != exitOK || !strings.Contains(out, "deleted 1") {
		t.Fatalf("mirror after a deletion at the source exited %d:\n%s", code, out)
	}
	// On a terminal the progress line is drawn under the copy lines, cut
	// to the width, and gone at the end: only log lines stay on the screen.
	code, out, lines, drawn := onPTY(t, 40, "--config", cfg, "mirror")
	if code != exitOK || !strings.Contains(out, "2 unchanged") {
		t.Fatalf("mirror on a terminal exited %d:\n%s", code, out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "time=") {
			t.Errorf("left on the terminal, no log line: %q", l)
		}
	}
	for _, d := range drawn {
		if len([]rune(d)) >= 40 {
			t.Errorf("a progress line wider than the terminal of 40: %q", d)
		}
	}

	if err := src.CreateBucket(ctx, "restored", false); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", src.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", src.SecretAccessKey)
	code, out, errOut := mbackup(t, "--config", cfg, "mirror", "--reverse", "--to-endpoint", "http://"+src.Endpoint,
		"--to-region", src.Region, "--to-bucket", "restored")
	if code != exitOK || !strings.Contains(out, "copied 2 objects") {
		t.Fatalf("mirror --reverse exited %d:\n%s%s", code, out, errOut)
	}
	for _, k := range []string{"media_attachments/files/110/000/001/original/a.png", "accounts/avatars/000/000/001/original/me.jpg"} {
		o, err := client.GetObject(ctx, "restored", k, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(o)
		if err != nil || !bytes.Equal(b, []byte(mirrorObjects[k])) {
			t.Errorf("restored %s: %q, %v", k, b, err)
		}
	}
}
