package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/b2test"
	"mbackup/internal/testenv"
)

// TestCheck runs the preflight against the throwaway servers: everything
// reachable is ✅, the identity beside the config is ⚠️, an empty media
// bucket is ⚠️; a wrong password is ❌ with exit 1, and no secret is
// printed.
func TestCheck(t *testing.T) {
	redis.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	s3 := testenv.StartS3(t)
	dir, cfg := setup(t, "  databases: [postgres]\n")
	os.WriteFile(filepath.Join(dir, "media.key"), []byte(s3.SecretAccessKey), 0o600)
	text, _ := os.ReadFile(cfg)
	text = append(text, fmt.Sprintf(`media:
  source:
    endpoint: http://%s
    region: %s
    bucket: %s
    access_key_id: %s
    secret_access_key_file: media.key
`, s3.Endpoint, s3.Region, s3.Bucket, s3.AccessKeyID)...)
	os.WriteFile(cfg, text, 0o600)
	// The store exists (check never creates one: TestCheckNeverCreatesTheStore).
	if err := os.Mkdir(filepath.Join(dir, "store"), 0o700); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := mbackup(t, "--config", cfg, "check")
	t.Logf("check:\n%s%s", out, errOut)
	if code != exitOK {
		t.Fatalf("check exited %d", code)
	}
	for _, want := range []string{
		"✅ config", "✅ retention: keep every snapshot younger than 14 days, and the newest 2 complete ones\n", "✅ recipients: 1 age recipient(s)", "⚠️  identity: " + filepath.Join(dir, "id.txt"),
		"✅ storage local: listed 0 snapshot(s); wrote, read back and deleted a test object",
		"✅ postgres 127.0.0.1:", "pg_dump (PostgreSQL) 15", "databases postgres",
		"✅ redis main: server 7", "SYNC permitted", "mysql 127.0.0.1:", "⚠️  media source", "listable, but empty", "plain HTTP",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q", want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "store", "check")); len(entries) != 0 {
		t.Errorf("the test object was left: %v", entries)
	}

	client, err := s3.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(context.Background(), s3.Bucket, "accounts/avatars/1.png", bytes.NewReader([]byte("png")), 3, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "id.txt"))
	os.WriteFile(filepath.Join(dir, "pg.pass"), []byte("wrong-password-xyzzy\n"), 0o600)
	code, out, errOut = mbackup(t, "--config", cfg, "check")
	t.Logf("check with a wrong password:\n%s%s", out, errOut)
	if code != exitError || !strings.Contains(out, "❌ postgres") || !strings.Contains(errOut, "1 of the checks above failed") {
		t.Fatalf("check with a wrong PostgreSQL password exited %d", code)
	}
	if !strings.Contains(out, "✅ identity") || !strings.Contains(out, "✅ media source") {
		t.Error("the identity or media lines did not turn ✅")
	}
	for _, secret := range []string{"xyzzy", pg.Password, redis.Password, maria.Password, s3.SecretAccessKey} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("check printed a secret")
		}
	}
}

// TestCheckB2: a key without deleteFiles is ❌ with the fix; the bucket's
// default encryption is ⚠️ when off and ✅ when on.
func TestCheckB2(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	dir, cfg := setup(t, "  databases: [postgres]\n")
	os.WriteFile(filepath.Join(dir, "b2.key"), []byte(srv.AppKey), 0o600)
	text, _ := os.ReadFile(cfg)
	text = bytes.Replace(text, []byte("storage:\n  type: local\n  path: "+filepath.Join(dir, "store")+"\n"), []byte(fmt.Sprintf(
		"storage:\n  type: b2\n  endpoint: %s\n  bucket: backups\n  key_id: %s\n  application_key_file: b2.key\n", srv.URL, srv.KeyID)), 1)
	os.WriteFile(cfg, text, 0o600)

	code, out, _ := mbackup(t, "--config", cfg, "check")
	if !strings.Contains(out, "✅ storage b2:") || !strings.Contains(out, "✅ storage b2 key: has listFiles") ||
		!strings.Contains(out, "⚠️  storage b2 encryption: the bucket's default server-side encryption is off") {
		t.Errorf("check exited %d:\n%s", code, out)
	}
	srv.SetBucketEncryption("backups", "SSE-B2")
	srv.RestrictKey("backups", "listFiles", "readFiles", "writeFiles")
	code, out, errOut := mbackup(t, "--config", cfg, "check")
	t.Logf("restricted key:\n%s%s", out, errOut)
	if code != exitError || !strings.Contains(out, "❌ storage b2 key: lacks deleteFiles") ||
		!strings.Contains(out, "b2 key create --bucket BUCKET NAME listFiles,readFiles,writeFiles,deleteFiles") {
		t.Errorf("check with a key lacking deleteFiles exited %d", code)
	}
	if !strings.Contains(out, "⚠️  storage b2 encryption: this key may not read") {
		t.Error("a key without readBucketEncryption was not reported")
	}
	srv.RestrictKey("")
	if _, out, _ := mbackup(t, "--config", cfg, "check"); !strings.Contains(out, "✅ storage b2 encryption: bucket default encryption SSE-B2") {
		t.Errorf("check with SSE-B2 on:\n%s", out)
	}
}
