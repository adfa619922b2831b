package filesdump_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/artifact"
	"mbackup/internal/b2test"
	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/engine"
	"mbackup/internal/engines"
	"mbackup/internal/filesdump"
	"mbackup/internal/restore"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/local"
)

// TestPipeline backs up two entries through the engines' jobs (zstd, age,
// sha256, a local store), reads them back with the files scanner as verify
// would, and restores them with the restore package into a review
// directory: every file comes back byte-equal with its mode.
func TestPipeline(t *testing.T) {
	store, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pipeline(t, store)
}

// TestPipelineB2 is TestPipeline through the b2 store on the fake B2: the
// artifacts' keys hold %XX (a path encoded), which the B2 API must carry.
func TestPipelineB2(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	store, err := b2.New(context.Background(), b2.Config{
		KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "backups", Prefix: "mastodon/",
		ChunkSize: 5_000_000, ConcurrentUploads: 2, APIBase: srv.URL,
		CallTimeout: 10 * time.Second, StallTimeout: 10 * time.Second, UploadRetries: 3, // nothing hangs here
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	pipeline(t, store)
	var names []string
	for _, f := range srv.Versions("backups") {
		names = append(names, f.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "%2Eenv%2Eproduction.tar.zst.age") {
		t.Errorf("keys in the bucket: %q", names)
	}
}

func pipeline(t *testing.T, store storage.Store) {
	src := t.TempDir()
	env := filepath.Join(src, "live", ".env.production")
	write(t, env, "SECRET_KEY_BASE=abc\nOTP_SECRET=def\n", 0o600)
	conf := filepath.Join(src, "nginx")
	write(t, filepath.Join(conf, "sites-available", "mastodon"), "server { listen 443; }\n", 0o644)
	if err := os.Symlink("../sites-available/mastodon", filepath.Join(conf, "mastodon-link")); err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	tk := &snapshot.Taker{Store: store, Recipients: []age.Recipient{id.Recipient()},
		RecipientIDs: []string{id.Recipient().String()}, Host: "test", Tool: "mbackup test"}
	ctx := context.Background()
	m, err := tk.Take(ctx, engines.Jobs(ctx, &config.Config{Files: []string{env, conf}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := engines.Find("files")
	scan := func(a snapshot.Artifact) io.WriteCloser { return e.(filesdump.Engine).ScanInfo(a.Ref(), a.Info) }
	rb := snapshot.ReadBack{Identities: []age.Identity{id}, Scan: scan}
	if err := rb.Check(ctx, store, m); err != nil {
		t.Fatalf("read back with the files scanner: %v", err)
	}
	review := filepath.Join(t.TempDir(), "review")
	tg := &filesdump.Target{Dir: review}
	for _, a := range m.Artifacts { // what restore.Plan must do (engine.Informed)
		tg.Inform(a.Ref(), a.Info)
	}
	if w := tg.Warnings(m.Artifacts[0].Ref()); len(w) != 5 || !strings.HasPrefix(w[0], env+": VAPID_PRIVATE_KEY is missing or empty") {
		t.Errorf("warnings: %q", w)
	}
	steps, err := restore.Plan(m, nil, restore.Targets{tg}, false)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := restore.Run(ctx, steps, restore.Targets{tg}, restore.Options{Store: store, Identities: []age.Identity{id}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{env, filepath.Join(conf, "sites-available", "mastodon")} {
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(review, p))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: %q, %v", p, got, err)
		}
		fw, _ := os.Stat(p)
		fg, _ := os.Stat(filepath.Join(review, p))
		if fg == nil || fw.Mode() != fg.Mode() {
			t.Errorf("%s: mode %v, restored %v", p, fw.Mode(), fg)
		}
	}
	if l, err := os.Readlink(filepath.Join(review, conf, "mastodon-link")); err != nil || l != "../sites-available/mastodon" {
		t.Errorf("symlink: %q, %v", l, err)
	}
	var notes []string
	for _, s := range rep.Steps {
		notes = append(notes, s.Notes...)
	}
	all := strings.Join(notes, "\n")
	if !strings.Contains(all, "warning: "+env+": VAPID_PRIVATE_KEY is missing or empty") ||
		!strings.Contains(all, "restored to "+filepath.Join(review, env)) {
		t.Errorf("notes:\n%s", all)
	}
}

func write(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// TestEngineHooks: engine.Inform and engine.ScannerOf reach the files
// engine's optional interfaces, and leave the others alone.
func TestEngineHooks(t *testing.T) {
	tg := &filesdump.Target{Dir: t.TempDir()}
	a := artifact.Ref{Component: artifact.Files, Name: "/etc/app", Kind: artifact.Tar}
	if err := tg.Check(context.Background(), a, "", false); err == nil {
		t.Fatal("Check of an artifact it was not informed of passed")
	}
	engine.Inform(tg, a, dump.Info{})
	if err := tg.Check(context.Background(), a, "", false); err != nil {
		t.Errorf("Check after engine.Inform: %v", err)
	}
	e, _ := engines.Find(artifact.Files)
	if w := engine.ScannerOf(e, a, dump.Info{}); w == nil || w.Close() != nil {
		t.Errorf("files scanner of an empty tar: %v", w)
	}
	r, _ := engines.Find(artifact.Redis)
	if w := engine.ScannerOf(r, artifact.Ref{Component: artifact.Redis, Name: "main", Kind: artifact.RDB}, dump.Info{}); w != nil {
		t.Errorf("redis scanner: %v", w)
	}
}

// TestByHand restores a files artifact with the stock tools, as the
// README's restore-by-hand does: age -d | zstd -d | tar -x. The tar is a
// plain PAX archive: the files come back byte-equal with their modes and
// mtimes, the symlink as a link.
func TestByHand(t *testing.T) {
	for _, tool := range []string{"age", "zstd", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: apt-get install -y %s", tool, tool)
		}
	}
	src := t.TempDir()
	conf := filepath.Join(src, "nginx")
	write(t, filepath.Join(conf, "sites-available", "mastodon"), "server { listen 443; }\n", 0o640)
	write(t, filepath.Join(conf, "café ☃"), "unicode\n", 0o600)
	if err := os.Symlink("sites-available/mastodon", filepath.Join(conf, "link")); err != nil {
		t.Fatal(err)
	}
	store, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	tk := &snapshot.Taker{Store: store, Recipients: []age.Recipient{id.Recipient()},
		RecipientIDs: []string{id.Recipient().String()}, Host: "test", Tool: "mbackup test"}
	ctx := context.Background()
	m, err := tk.Take(ctx, engines.Jobs(ctx, &config.Config{Files: []string{conf}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	idFile := filepath.Join(dir, "id.txt")
	write(t, idFile, id.String()+"\n", 0o600)
	out := filepath.Join(dir, "out")
	write(t, filepath.Join(out, ".keep"), "", 0o600)
	key := filepath.Join(store.Root(), m.Artifacts[0].Key)
	cmd := exec.Command("sh", "-c", `age -d -i "$1" "$2" | zstd -d | tar -x -p -C "$3"`, "sh", idFile, key, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("age | zstd | tar: %v\n%s", err, b)
	}
	for _, p := range []string{filepath.Join(conf, "sites-available", "mastodon"), filepath.Join(conf, "café ☃")} {
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(out, p))
		fw, _ := os.Stat(p)
		fg, _ := os.Stat(filepath.Join(out, p))
		if err != nil || string(got) != string(want) || fg.Mode() != fw.Mode() || !fg.ModTime().Equal(fw.ModTime()) {
			t.Errorf("%s: %q %v %v, want %q %v %v (%v)", p, got, fg.Mode(), fg.ModTime(), want, fw.Mode(), fw.ModTime(), err)
		}
	}
	if l, err := os.Readlink(filepath.Join(out, conf, "link")); err != nil || l != "sites-available/mastodon" {
		t.Errorf("symlink: %q, %v", l, err)
	}
}
