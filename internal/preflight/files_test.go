package preflight

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestFilesProbe(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, ".env.production")
	if err := os.WriteFile(env, []byte("SECRET_KEY_BASE=s3cr3t-base-value\nOTP_SECRET=otp-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rs := files(context.Background(), dir)
	if len(rs) != 6 || rs[0].Level != OK || !strings.HasPrefix(rs[0].Message, "1 files, ") {
		t.Fatalf("results: %+v", rs)
	}
	for _, r := range rs[1:] {
		if r.Level != Warn || !strings.Contains(r.Message, " is missing or empty: without it ") {
			t.Errorf("result %+v", r)
		}
	}
	if !strings.Contains(rs[5].Message, "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY is missing or empty: without it the database columns Mastodon 4.3+ encrypts") {
		t.Errorf("last: %+v", rs[5])
	}
	js, _ := json.Marshal(rs)
	if strings.Contains(string(js), "s3cr3t") || strings.Contains(string(js), "otp-value") {
		t.Errorf("a value in the results: %s", js)
	}
	rs = files(context.Background(), filepath.Join(dir, "gone"))
	if len(rs) != 1 || rs[0].Level != Fail || rs[0].Text() != "missing — create it, or remove it from files:" {
		t.Errorf("missing entry: %+v", rs)
	}
}

// TestFilesProbeUnreadable runs the probe as nobody (in a copy of the test
// binary) when running as root, who reads everything.
func TestFilesProbeUnreadable(t *testing.T) {
	if entry := os.Getenv("PREFLIGHT_CHILD_ENTRY"); entry != "" {
		js, _ := json.Marshal(files(context.Background(), entry))
		os.Stdout.WriteString("CHILD: " + string(js) + "\n")
		return
	}
	dir, err := os.MkdirTemp("", "preflight-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	key := filepath.Join(dir, "privkey.pem")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	var rs []Result
	if os.Geteuid() != 0 {
		os.Chmod(key, 0)
		rs = files(context.Background(), dir)
	} else {
		rs = filesAsNobody(t, dir)
	}
	if len(rs) != 1 || rs[0].Level != Fail || !strings.HasPrefix(rs[0].Message, "cannot read "+key+" as uid ") ||
		!strings.Contains(rs[0].Fix, "setfacl -R -m u:") || !strings.HasSuffix(rs[0].Fix, ":rX "+dir) {
		t.Errorf("unreadable: %+v", rs)
	}
}

func filesAsNobody(t *testing.T, dir string) []Result {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "preflight.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestFilesProbeUnreadable$")
	cmd.Env = append(os.Environ(), "PREFLIGHT_CHILD_ENTRY="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	_, line, _ := strings.Cut(string(out), "CHILD: ")
	line, _, _ = strings.Cut(line, "\n")
	var rs []Result
	if err := json.Unmarshal([]byte(line), &rs); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	return rs
}
