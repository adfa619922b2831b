package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	blazer "github.com/Backblaze/blazer/b2"

	"mbackup/internal/b2test"
	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/configured"
	"mbackup/internal/stream"
)

// hostCaps are the capabilities of the backup host's key as the README
// recommends: no deleteFiles (prune hides) and no bypassGovernance.
var hostCaps = []string{"listBuckets", "listFiles", "readFiles", "writeFiles",
	"readBucketRetentions", "readFileRetentions", "writeFileRetentions"}

// attackLab is one fresh store under attack: a fake B2 with a bucket
// locked in governance mode for 15 days, the backup host's configuration
// and key, and three signed snapshots of the retention window.
type attackLab struct {
	srv     *b2test.Server
	dir     string
	cfg     string // the host's configuration file
	conf    *config.Config
	store   storage.Store // opened with the host's key
	bucket  *blazer.Bucket
	ids     []string         // oldest first
	bytes   map[string]int64 // stored bytes of each snapshot as taken
	oldest  string
	newest  string
	tampers []string // what the attack did, for the table
}

// lockedB2 makes the configuration setup wrote use bucket "backups" of
// srv, locked for 15 days in governance mode.
func lockedB2(t *testing.T, srv *b2test.Server, dir, cfg string) {
	t.Helper()
	os.WriteFile(filepath.Join(dir, "b2.key"), []byte(srv.AppKey), 0o600)
	text, _ := os.ReadFile(cfg)
	local := []byte("storage:\n  type: local\n  path: " + filepath.Join(dir, "store") + "\n")
	if !bytes.Contains(text, local) {
		t.Fatal("no local storage section to replace")
	}
	text = bytes.Replace(text, local, []byte(fmt.Sprintf(
		"storage:\n  type: b2\n  endpoint: %s\n  bucket: backups\n  key_id: %s\n  application_key_file: b2.key\n  lock: {mode: governance, days: 15}\n",
		srv.URL, srv.KeyID)), 1)
	os.WriteFile(cfg, text, 0o600)
}

// snapshotAges are the ages of the three snapshots, oldest first: two of
// them older than the one day the edited policy keeps.
var snapshotAges = []time.Duration{50 * time.Hour, 30 * time.Hour, 2 * time.Hour}

func newAttackLab(t *testing.T, caps ...string) *attackLab {
	t.Helper()
	ctx := context.Background()
	l := &attackLab{srv: b2test.New(t), bytes: map[string]int64{}}
	l.srv.CreateLockedBucket("backups", "governance", 15)
	l.srv.RestrictKey("backups", caps...)
	l.dir, l.cfg = setup(t, "  databases: [postgres]\n")
	lockedB2(t, l.srv, l.dir, l.cfg)
	var err error
	if l.conf, _, err = config.Load(l.cfg); err != nil {
		t.Fatal(err)
	}
	if l.store, err = configured.Open(ctx, l.conf.Storage); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, ok := l.store.(io.Closer); ok {
			c.Close()
		}
	})
	c, err := blazer.NewClient(ctx, l.srv.KeyID, l.srv.AppKey, blazer.APIBase(l.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if l.bucket, err = c.Bucket(ctx, "backups"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, ago := range snapshotAges {
		at := now.Add(-ago)
		l.srv.SetNow(func() time.Time { return at })
		m := l.take(t, at)
		l.ids, l.bytes[m.ID] = append(l.ids, m.ID), m.Bytes()
	}
	l.srv.SetNow(nil)
	l.oldest, l.newest = l.ids[0], l.ids[len(l.ids)-1]
	return l
}

// take commits a signed snapshot dated at, as the host's backup does,
// with small artifacts (restore and verify read them like any other).
func (l *attackLab) take(t *testing.T, at time.Time) *snapshot.Manifest {
	t.Helper()
	rs, rids, err := recipients(l.conf)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := l.conf.Encryption.SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	sql := func(stmt string, n int) func(context.Context, io.Writer) (dump.Info, error) {
		return func(_ context.Context, w io.Writer) (dump.Info, error) {
			for i := range n {
				fmt.Fprintf(w, stmt+"\n", i)
			}
			return dump.Info{}, nil
		}
	}
	tk := snapshot.Taker{Store: l.store, Recipients: rs, RecipientIDs: rids, Host: "test-host", Tool: "mbackup test",
		Signer: signer, Now: func() time.Time { return at }}
	m, err := tk.Take(context.Background(), []snapshot.Job{
		{Component: "postgres", Name: "globals", Ext: ".sql", Produce: sql("CREATE ROLE role%d;", 2000)},
		{Component: "mysql", Name: "blog", Ext: ".sql", Produce: sql("INSERT INTO posts VALUES (%d);", 3000)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// names lists every file name the host's key sees, hidden ones too.
func (l *attackLab) versions(t *testing.T) []*blazer.Object {
	t.Helper()
	var out []*blazer.Object
	it := l.bucket.List(context.Background(), blazer.ListHidden())
	for it.Next() {
		out = append(out, it.Object())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// verifies runs "verify ID -i --json" as the admin, with the host's
// configuration: ok when the snapshot verifies (signature, stored and
// decrypted hashes) with the stored bytes it was taken with, not those of a
// forgery. It returns verify's standard error.
func (l *attackLab) verifies(t *testing.T, id string) (ok bool, stderr string) {
	t.Helper()
	code, out, errOut := mbackup(t, "--config", l.cfg, "verify", id, "-i", filepath.Join(l.dir, "id.txt"), "--json")
	var doc verifyJSON
	err := json.Unmarshal([]byte(out), &doc)
	ok = code == exitOK && err == nil && len(doc.Snapshots) == 1 && doc.Snapshots[0].OK && doc.Snapshots[0].ID == id &&
		doc.Snapshots[0].StoredBytes == l.bytes[id] && len(doc.Snapshots[0].Checks) == 3
	if !ok {
		t.Logf("verify %s exited %d:\n%s%s", id, code, out, errOut)
	}
	return ok, errOut
}

// forge overwrites every snapshot's artifacts with one tiny sealed file
// and its manifest with one naming those, signed with the host's signing
// key when resign (else the real signature stays).
func (l *attackLab) forge(t *testing.T, resign bool) {
	t.Helper()
	ctx := context.Background()
	rs, _, _ := recipients(l.conf)
	var sealed bytes.Buffer
	w, err := stream.Seal(&sealed, rs...)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "SELECT 1;\n")
	w.Close()
	signer, _ := l.conf.Encryption.SigningKey()
	for _, id := range l.ids {
		m, err := snapshot.Authenticate(ctx, l.store, id, signer.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.Artifacts {
			if _, err := l.store.Put(ctx, m.Artifacts[i].Key, bytes.NewReader(sealed.Bytes())); err != nil {
				t.Fatal(err)
			}
			m.Artifacts[i].Sums = w.Sums()
		}
		data, _ := json.Marshal(m)
		if resign {
			l.store.Put(ctx, snapshot.SignatureKey(id), bytes.NewReader(signer.Sign(data)))
		}
		if _, err := l.store.Put(ctx, snapshot.ManifestKey(id), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
}

// attackRow is one line of the attack matrix.
type attackRow struct {
	attack, effect, newest, oldest, reportedBy string
}

func outcome(ok bool) string {
	if ok {
		return "restorable"
	}
	return "LOST"
}

// TestAttackMatrix takes three snapshots into a lock-enabled bucket, then
// attacks them with the backup host's own key and configuration, each
// attack on a fresh store: the newest and the oldest snapshot of the
// window must still verify (decrypted, signature checked), and the attack
// must be reported by list, check or status.
func TestAttackMatrix(t *testing.T) {
	redis.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	var rows []attackRow
	run := func(name string, caps []string, attack func(t *testing.T, l *attackLab) (effect string), report func(t *testing.T, l *attackLab) (by string)) {
		t.Run(name, func(t *testing.T) {
			l := newAttackLab(t, caps...)
			effect := attack(t, l)
			newest, _ := l.verifies(t, l.newest)
			oldest, _ := l.verifies(t, l.oldest)
			if !newest || !oldest {
				t.Errorf("newest restorable: %v, oldest: %v", newest, oldest)
			}
			by := report(t, l)
			rows = append(rows, attackRow{name, effect, outcome(newest), outcome(oldest), by})
		})
	}

	for _, key := range []struct {
		name string
		caps []string
	}{{"host key (no deleteFiles)", hostCaps}, {"key with deleteFiles", append([]string{"deleteFiles"}, hostCaps...)}} {
		run("delete every version, "+key.name, key.caps, func(t *testing.T, l *attackLab) string {
			deleted, refused := 0, 0
			for _, o := range l.versions(t) {
				if err := o.Delete(context.Background()); err != nil {
					refused++
				} else {
					deleted++
				}
			}
			if deleted != 0 || refused == 0 {
				t.Errorf("%d versions deleted, %d refused", deleted, refused)
			}
			return fmt.Sprintf("%d deletions refused, %d done", refused, deleted)
		}, func(t *testing.T, l *attackLab) string {
			_, out, _ := mbackup(t, "--config", l.cfg, "list", "--all-versions")
			if !strings.Contains(out, "3 snapshots, each as the backup host wrote it") {
				t.Errorf("list --all-versions:\n%s", out)
			}
			return "nothing to report: list --all-versions shows 3 snapshots as written"
		})
	}

	run("hide every file", hostCaps, func(t *testing.T, l *attackLab) string {
		n := 0
		for _, o := range l.versions(t) {
			if a, err := o.Attrs(context.Background()); err == nil && a.Status == blazer.Uploaded {
				if err := l.bucket.Object(a.Name).Hide(context.Background()); err == nil {
					n++
				}
			}
		}
		if _, out, _ := mbackup(t, "--config", l.cfg, "list"); strings.Contains(out, l.newest) {
			t.Errorf("list still shows the hidden snapshots:\n%s", out)
		}
		return fmt.Sprintf("%d names hidden: list shows nothing", n)
	}, func(t *testing.T, l *attackLab) string {
		lists, gets := l.srv.Count("b2_list_file_versions"), l.srv.Count("b2_download_file_by_id")
		_, out, _ := mbackup(t, "--config", l.cfg, "status")
		t.Logf("status: %d version listings, %d downloads by id", l.srv.Count("b2_list_file_versions")-lists, l.srv.Count("b2_download_file_by_id")-gets)
		lists, gets = l.srv.Count("b2_list_file_versions"), l.srv.Count("b2_download_file_by_id")
		_, list, _ := mbackup(t, "--config", l.cfg, "list", "--all-versions")
		t.Logf("list --all-versions: %d version listings, %d downloads by id", l.srv.Count("b2_list_file_versions")-lists, l.srv.Count("b2_download_file_by_id")-gets)
		if !strings.Contains(out, "3 snapshots exist only as hidden versions") || !strings.Contains(list, "3 snapshots are hidden") {
			t.Errorf("status:\n%s\nlist --all-versions:\n%s", out, list)
		}
		_, errOut := l.verifies(t, l.newest)
		if !strings.Contains(errOut, "WARNING: snapshot "+l.newest+": its manifest is hidden") {
			t.Errorf("verify of a hidden snapshot said nothing:\n%s", errOut)
		}
		return "status: \"3 snapshots exist only as hidden versions\"; list --all-versions: HIDDEN"
	})

	run("overwrite every manifest with a forged one", hostCaps, func(t *testing.T, l *attackLab) string {
		l.forge(t, false)
		return "artifacts overwritten by one tiny file, manifests naming it, signature left"
	}, func(t *testing.T, l *attackLab) string {
		_, out, _ := mbackup(t, "--config", l.cfg, "status")
		_, list, _ := mbackup(t, "--config", l.cfg, "list", "--all-versions")
		if !strings.Contains(out, "3 snapshots' manifests have several uploaded versions") ||
			!strings.Contains(list, "3 snapshots have a manifest version that fails its signature") || !strings.Contains(list, "OVERWRITTEN, 1 FORGED") {
			t.Errorf("status:\n%s\nlist --all-versions:\n%s", out, list)
		}
		return "status: several uploaded versions; list --all-versions: OVERWRITTEN, FORGED"
	})

	run("overwrite every manifest, signed with the host's signing key", hostCaps, func(t *testing.T, l *attackLab) string {
		l.forge(t, true)
		return "as above, the forgeries signed with the stolen signing key"
	}, func(t *testing.T, l *attackLab) string {
		_, list, _ := mbackup(t, "--config", l.cfg, "list", "--all-versions")
		if !strings.Contains(list, "3 snapshots have files uploaded again") || !strings.Contains(list, "OVERWRITTEN") {
			t.Errorf("list --all-versions:\n%s", list)
		}
		_, errOut := l.verifies(t, l.oldest)
		if !strings.Contains(errOut, "its manifest was overwritten: 2 uploaded versions differ") {
			t.Errorf("verify said nothing of the overwrite:\n%s", errOut)
		}
		return "list --all-versions: OVERWRITTEN (both versions signed: the oldest is used)"
	})

	run("a manifest dated a year ahead, then prune", hostCaps, func(t *testing.T, l *attackLab) string {
		l.take(t, time.Now().Add(365*24*time.Hour))
		code, out, errOut := mbackup(t, "--config", l.cfg, "prune")
		if code != exitOK {
			t.Errorf("prune exited %d:\n%s%s", code, out, errOut)
		}
		return "prune removed nothing of the window"
	}, func(t *testing.T, l *attackLab) string {
		_, out, _ := mbackup(t, "--config", l.cfg, "status")
		if !strings.Contains(out, "dated in the future") || !strings.Contains(out, "newest good snapshot: "+l.newest) {
			t.Errorf("status:\n%s", out)
		}
		return "status: \"dated in the future\", the real newest still the newest good"
	})

	run("prune with keep_last: 1, keep_within: 1d", hostCaps, func(t *testing.T, l *attackLab) string {
		evil := filepath.Join(l.dir, "evil.yaml")
		text, _ := os.ReadFile(l.cfg)
		os.WriteFile(evil, append(text, "retention:\n  keep_within: 1d\n  keep_last: 1\n"...), 0o600)
		code, out, errOut := mbackup(t, "--config", evil, "prune")
		t.Logf("prune with the edited policy:\n%s%s", out, errOut)
		if code != exitOK || !strings.Contains(out+errOut, l.oldest) {
			t.Errorf("prune with the edited policy exited %d:\n%s%s", code, out, errOut)
		}
		return "2 snapshots hidden by prune (the key cannot delete)"
	}, func(t *testing.T, l *attackLab) string {
		_, out, _ := mbackup(t, "--config", l.cfg, "status")
		if !strings.Contains(out, "2 snapshots exist only as hidden versions") {
			t.Errorf("status:\n%s", out)
		}
		return "status: \"2 snapshots exist only as hidden versions\""
	})

	run("prune with keep_last: 1, keep_within: 1d, key with deleteFiles", append([]string{"deleteFiles"}, hostCaps...), func(t *testing.T, l *attackLab) string {
		evil := filepath.Join(l.dir, "evil.yaml")
		text, _ := os.ReadFile(l.cfg)
		os.WriteFile(evil, append(text, "retention:\n  keep_within: 1d\n  keep_last: 1\n"...), 0o600)
		code, out, errOut := mbackup(t, "--config", evil, "prune")
		t.Logf("prune with the edited policy:\n%s%s", out, errOut)
		if code != exitOK || !strings.Contains(out, "locked until") {
			t.Errorf("prune with the edited policy exited %d:\n%s%s", code, out, errOut)
		}
		return "prune deletes nothing: \"2 snapshots locked until ...\""
	}, func(t *testing.T, l *attackLab) string {
		_, out, _ := mbackup(t, "--config", l.cfg, "status")
		_, list, _ := mbackup(t, "--config", l.cfg, "list", "--all-versions")
		if !strings.Contains(out, "snapshots: 3 complete") || !strings.Contains(list, "3 snapshots, each as the backup host wrote it") {
			t.Errorf("status:\n%s\nlist --all-versions:\n%s", out, list)
		}
		return "nothing changed: status and list show the 3 snapshots"
	})

	run("storage cap reached during a backup", hostCaps, func(t *testing.T, l *attackLab) string {
		l.srv.SetStorageCap(1)
		code, out, errOut := mbackup(t, "--config", l.cfg, "backup")
		if code == exitOK || !strings.Contains(out+errOut, "storage cap exceeded") {
			t.Errorf("backup at the cap exited %d:\n%s%s", code, out, errOut)
		}
		return "the backup fails, nothing committed"
	}, func(t *testing.T, l *attackLab) string {
		code, out, errOut := mbackup(t, "--config", l.cfg, "status")
		if code != exitOK || !strings.Contains(out, "snapshots: 3 complete") {
			t.Errorf("status at the cap exited %d:\n%s%s", code, out, errOut)
		}
		_, out, _ = mbackup(t, "--config", l.cfg, "check")
		if !strings.Contains(out, "raise the storage cap") {
			t.Errorf("check at the cap:\n%s", out)
		}
		return "backup and check: \"raise the storage cap\"; status and list keep working"
	})

	var b strings.Builder
	fmt.Fprintf(&b, "\n| attack (host key and config) | effect | newest | oldest | reported by |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.attack, r.effect, r.newest, r.oldest, r.reportedBy)
	}
	t.Log(b.String())
}
