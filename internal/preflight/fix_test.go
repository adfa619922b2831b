package preflight

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/b2test"
	"mbackup/internal/config"
	"mbackup/internal/sandbox"
)

// TestEveryFailHasAFix makes each Fail of the probes happen for real and
// asserts that it says what to do: a non-empty Fix.
func TestEveryFailHasAFix(t *testing.T) {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("not a key\n"), 0o600)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) }))
	defer refusing.Close()
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	closedB2 := b2Storage(srv)
	closedB2.Bucket = "no-such-bucket"
	locked := func(mode string, days int, caps ...string) config.Storage {
		s := b2test.New(t)
		s.CreateLockedBucket("backups", mode, days)
		if mode == "" {
			s.CreateBucket("plain")
		}
		s.RestrictKey("", caps...)
		sc := lockStorage(s, governance15)
		if mode == "" {
			sc.Bucket = "plain"
		}
		return sc
	}
	webhook := func(u string) *config.Config {
		return &config.Config{Notify: &config.Notify{Slack: &config.Slack{WebhookURL: config.NewSecret(u)}}}
	}
	for _, c := range []struct {
		name string
		rs   []Result
	}{
		{"recipients", recipients(&config.Config{Encryption: config.Encryption{All: []string{"age1notarecipient"}}})},
		{"signing key", signing(&config.Config{Encryption: config.Encryption{SigningKeyFile: file}})},
		{"verifier's signer", verifierSigner(&config.Config{Encryption: config.Encryption{Signer: "ssh-ed25519 nope"}})},
		{"store type", first(store(ctx, config.Storage{Type: "ftp"}))},
		{"local store", first(store(ctx, config.Storage{Type: config.StorageLocal, Path: file}))},
		{"b2 bucket", first(store(ctx, closedB2))},
		{"bucket without lock", first(store(ctx, locked("", 0, deleteCaps...)))},
		{"lock unreadable", first(store(ctx, locked(b2test.Governance, 30, without(deleteCaps, "readBucketRetentions")...)))},
		{"retention too short", first(store(ctx, locked(b2test.Governance, 7, without(deleteCaps, "writeFileRetentions")...)))},
		{"key lacks a capability", first(store(ctx, locked(b2test.Governance, 30, without(deleteCaps, "readFileRetentions")...)))},
		{"bypassGovernance", first(store(ctx, locked(b2test.Governance, 30, append([]string{"bypassGovernance"}, deleteCaps...)...)))},
		{"no lifecycle rule", first(store(ctx, locked(b2test.Governance, 30, hideCaps...)))},
		{"storage cap", first(store(ctx, capped(t)))},
		{"lifecycle hides uploads", first(store(ctx, hidingRule(t)))},
		{"postgres", postgres(ctx, &config.Postgres{Host: "127.0.0.1", Port: port, User: "mastodon", SSLMode: "disable"})},
		{"redis", redis(ctx, 0, config.Redis{Name: "main", URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port)})},
		{"mysql", mysql(ctx, &config.MySQL{Host: "127.0.0.1", Port: port, User: "backup"})},
		{"media endpoint", media(ctx, &config.Media{Source: config.S3Source{Endpoint: "ftp://x", Bucket: "m"}})},
		{"media list", media(ctx, &config.Media{Source: config.S3Source{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Region: "us-east-1", Bucket: "media", AccessKeyID: "k", SecretAccessKey: config.NewSecret("s")}})},
		{"files missing", files(ctx, filepath.Join(dir, "none"))},
		{"drill", drill(&config.Drill{IdentityFile: filepath.Join(dir, "none.txt"), Dir: file}, sandbox.Binaries{})},
		{"drill dir missing", drill(&config.Drill{IdentityFile: file, Dir: filepath.Join(dir, "none")}, sandbox.Binaries{})},
		{"slack settings", slack(ctx, &config.Config{Notify: &config.Notify{Slack: &config.Slack{Channel: "#ops"}}}, false, nil, nil)},
		{"slack refuses", slack(ctx, webhook(refusing.URL+"/services/T/B/x"), true, nil, nil)},
	} {
		fails := 0
		for _, r := range c.rs {
			if r.Level != Fail {
				continue
			}
			fails++
			if strings.TrimSpace(r.Fix) == "" {
				t.Errorf("%s: ❌ without a fix: %+v", c.name, r)
			}
			t.Logf("%s: ❌ %s: %s", c.name, r.What, r.Text())
		}
		if fails == 0 {
			t.Errorf("%s: no Fail happened: %+v", c.name, c.rs)
		}
	}
}

func first(rs []Result, _ any) []Result { return rs }

// hidingRule is a b2 store whose bucket hides every upload after a day.
func hidingRule(t *testing.T) config.Storage {
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	one := 1
	srv.SetLifecycleRules("backups", b2test.LifecycleRule{DaysFromUploadingToHiding: &one})
	return b2Storage(srv)
}

// capped is a b2 store on a server whose account is at its storage cap.
func capped(t *testing.T) config.Storage {
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	srv.SetStorageCap(1)
	return b2Storage(srv)
}

// TestNoFailWithoutFix: no call of fail in the package passes an empty
// fix, also on the paths a test cannot reach without a misbehaving
// server (a listing that fails after the connection succeeded).
func TestNoFailWithoutFix(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "fail" || len(call.Args) != 2 {
					return true
				}
				calls++
				if lit, ok := call.Args[1].(*ast.BasicLit); ok && (lit.Value == `""` || lit.Value == "``") {
					t.Errorf("%s: a Fail without a fix", fset.Position(call.Pos()))
				}
				return true
			})
		}
	}
	if calls < 15 {
		t.Errorf("found %d calls of fail: the parse missed some", calls)
	}
}
