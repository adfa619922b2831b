package preflight

import (
	"context"
	"strings"
	"testing"

	"mbackup/internal/b2test"
	"mbackup/internal/config"
	"mbackup/internal/explain"
)

// lockStorage is b2Storage under prefix mastodon/ with lock l.
func lockStorage(srv *b2test.Server, l *config.Lock) config.Storage {
	s := b2Storage(srv)
	s.Prefix, s.Lock = "mastodon/", l
	return s
}

var governance15 = &config.Lock{Mode: config.LockGovernance, Days: 15}

// lockCaps are the capabilities of a hide-mode key for a lock, and of one
// that also deletes.
var (
	hideCaps   = []string{"listFiles", "readFiles", "writeFiles", "readFileRetentions", "writeFileRetentions", "readBucketRetentions"}
	deleteCaps = append([]string{"deleteFiles"}, hideCaps...)
)

// find returns the results about what, failing the test when there are
// none.
func find(t *testing.T, rs []Result, what string) []Result {
	t.Helper()
	var out []Result
	for _, r := range rs {
		if r.What == what {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no result about %q in %+v", what, rs)
	}
	return out
}

// want asserts that exactly one of rs has level l and a message holding
// msg (and, for a Fail or a Warn, a fix holding fix).
func want(t *testing.T, rs []Result, l Level, msg, fix string) {
	t.Helper()
	n := 0
	for _, r := range rs {
		if r.Level == l && strings.Contains(r.Message, msg) && strings.Contains(r.Fix, fix) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d results of level %d with %q (fix %q) in:\n%s", n, l, msg, fix, lines(rs))
	}
}

func lines(rs []Result) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(marksForTest[r.Level] + r.What + ": " + r.Text() + "\n")
	}
	return b.String()
}

var marksForTest = [...]string{OK: "✅ ", Warn: "⚠️ ", Fail: "❌ "}

// TestLockBucketWithoutLock: storage.lock on a bucket without Object Lock
// is ❌ with the command that turns it on, and the probe's upload, which
// the store refuses, does not hide that line.
func TestLockBucketWithoutLock(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	srv.RestrictKey("backups", deleteCaps...)
	rs, _ := store(context.Background(), lockStorage(srv, governance15))
	want(t, find(t, rs, "storage b2 lock"), Fail, "bucket backups has no Object Lock",
		"b2 bucket update --file-lock-enabled backups")
}

// TestLockRetentionTooShort: a default retention shorter than the lock,
// with a key that cannot set one per file, is ❌; with writeFileRetentions
// it is ✅, and so is a default that covers the lock.
func TestLockRetentionTooShort(t *testing.T) {
	for _, c := range []struct {
		name        string
		mode        string
		days        int
		caps        []string
		level       Level
		msg, fix    string
		keyLevel    Level
		keyMessage  string
		storeLevel  Level
		storeSuffix string
	}{
		{"short default, no per-file retention", b2test.Governance, 7, without(deleteCaps, "writeFileRetentions"), Fail,
			"bucket backups has a default retention of 7 days (governance), not governance for 15 days (storage.lock), and this key cannot set a retention per file",
			`b2 bucket update --default-retention-mode governance --default-retention-period "15 days" backups`,
			Fail, "lacks writeFileRetentions", Fail, ""},
		{"no default, no per-file retention", "", 0, without(deleteCaps, "writeFileRetentions"), Fail,
			"bucket backups has no default retention, not governance for 15 days", "--default-retention-period \"15 days\"",
			Fail, "lacks writeFileRetentions", Fail, ""},
		{"short default, per-file retention", b2test.Governance, 7, deleteCaps, OK,
			"this key sets each object's retention on upload (governance, 15 days)", "", OK, "has listFiles", OK, "Object Lock works"},
		{"default covers", b2test.Compliance, 20, without(deleteCaps, "writeFileRetentions"), OK,
			"every object is locked for at least storage.lock.days (15)", "", OK, "has listFiles, readFiles, writeFiles, deleteFiles, readFileRetentions", OK, "Object Lock works"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := b2test.New(t)
			srv.CreateLockedBucket("backups", c.mode, c.days)
			srv.RestrictKey("backups", c.caps...)
			rs, _ := store(context.Background(), lockStorage(srv, governance15))
			want(t, find(t, rs, "storage b2 lock retention"), c.level, c.msg, c.fix)
			want(t, find(t, rs, "storage b2 key"), c.keyLevel, c.keyMessage, "")
			st := find(t, rs, "storage b2")
			if st[0].Level != c.storeLevel || !strings.Contains(st[0].Message, c.storeSuffix) {
				t.Errorf("the probe: %+v", st[0])
			}
		})
	}
}

func without(caps []string, c string) []string {
	var out []string
	for _, x := range caps {
		if x != c {
			out = append(out, x)
		}
	}
	return out
}

// TestLockKeyCapabilities: a key lacking a capability the lock needs is ❌
// naming it, with the key to make; bypassGovernance is ❌ in governance
// mode and ⚠ in compliance mode; a key that may not read the bucket's
// lock is ❌.
func TestLockKeyCapabilities(t *testing.T) {
	for _, c := range []struct {
		name  string
		lock  *config.Lock
		caps  []string
		what  string
		level Level
		msg   string
	}{
		{"no readFileRetentions", governance15, without(deleteCaps, "readFileRetentions"), "storage b2 key", Fail, "lacks readFileRetentions for storage.lock"},
		{"no readFiles", governance15, without(deleteCaps, "readFiles"), "storage b2 key", Fail, "lacks readFiles"},
		{"bypassGovernance, governance", governance15, append([]string{"bypassGovernance"}, deleteCaps...), "storage b2 key", Fail,
			"holds bypassGovernance: whoever takes this host can shorten the governance locks"},
		{"bypassGovernance, compliance", &config.Lock{Mode: config.LockCompliance, Days: 15}, append([]string{"bypassGovernance"}, deleteCaps...),
			"storage b2 key", Warn, "holds bypassGovernance, which compliance locks ignore"},
		{"no readBucketRetentions", governance15, without(deleteCaps, "readBucketRetentions"), "storage b2 lock", Fail,
			"this key may not read the bucket's Object Lock settings"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := b2test.New(t)
			srv.CreateLockedBucket("backups", c.lock.Mode, 30)
			srv.RestrictKey("backups", c.caps...)
			rs, _ := store(context.Background(), lockStorage(srv, c.lock))
			want(t, find(t, rs, c.what), c.level, c.msg, "b2 key create --bucket BUCKET NAME")
		})
	}
}

// TestLockLifecycle: with a key without deleteFiles, prune hides, and a
// lifecycle rule covering the prefix is ✅, none (or one elsewhere) ❌.
func TestLockLifecycle(t *testing.T) {
	one := 1
	for _, c := range []struct {
		name  string
		rules []b2test.LifecycleRule
		level Level
		msg   string
	}{
		{"none", nil, Fail, `no lifecycle rule deletes hidden versions under "mastodon/"`},
		{"elsewhere", []b2test.LifecycleRule{{Prefix: "other/", DaysFromHidingToDeleting: &one}}, Fail, "no lifecycle rule"},
		{"hiding only", []b2test.LifecycleRule{{Prefix: "other/", DaysFromUploadingToHiding: &one}}, Fail, "no lifecycle rule"},
		{"the prefix", []b2test.LifecycleRule{{Prefix: "mastodon/", DaysFromHidingToDeleting: &one}}, OK,
			`the lifecycle rule on "mastodon/" deletes hidden versions 1 day(s) after hiding`},
		{"the bucket", []b2test.LifecycleRule{{Prefix: "", DaysFromHidingToDeleting: &one}}, OK, `the lifecycle rule on ""`},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := b2test.New(t)
			srv.CreateLockedBucket("backups", b2test.Governance, 15)
			srv.SetLifecycleRules("backups", c.rules...)
			srv.RestrictKey("backups", hideCaps...)
			rs, _ := store(context.Background(), lockStorage(srv, governance15))
			fix := ""
			if c.level == Fail {
				fix = `b2 bucket update --lifecycle-rule '{"fileNamePrefix": "mastodon/", "daysFromHidingToDeleting": 1`
			}
			want(t, find(t, rs, "storage b2 lifecycle"), c.level, c.msg, fix)
		})
	}
}

// TestNoLockWarns: a b2 store without storage.lock gets one warning
// recommending it, and no other lock line.
func TestNoLockWarns(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateLockedBucket("backups", b2test.Governance, 15)
	rs, _ := store(context.Background(), lockStorage(srv, nil))
	want(t, find(t, rs, "storage b2 lock"), Warn, "storage.lock is not set", "set storage.lock")
	for _, r := range rs {
		if r.What == "storage b2 lock retention" || r.What == "storage b2 lifecycle" {
			t.Errorf("a lock line without a lock: %+v", r)
		}
	}
}

// TestStoreAtTheCap: at the account's storage cap the probe's write is
// refused, and the fix says what to raise where.
func TestStoreAtTheCap(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	srv.SetStorageCap(1)
	rs, listed := store(context.Background(), lockStorage(srv, nil))
	if len(rs) == 0 || rs[0].Level != Fail || !strings.Contains(rs[0].Message, "storage cap exceeded") ||
		rs[0].Fix != explain.StorageCapFix || listed != nil {
		t.Errorf("at the cap: %+v", rs)
	}
}

// TestLifecycleHidesUploads: a lifecycle rule that hides files some days
// after their upload under the store's prefix is ❌, lock or not; one
// elsewhere in the bucket is not.
func TestLifecycleHidesUploads(t *testing.T) {
	seven := 7
	for _, c := range []struct {
		prefix string
		lock   *config.Lock
		fails  bool
	}{{"", nil, true}, {"mastodon/", governance15, true}, {"mastodon/snapshots/", nil, true}, {"other/", nil, false}} {
		srv := b2test.New(t)
		srv.CreateLockedBucket("backups", b2test.Governance, 15)
		srv.SetLifecycleRules("backups", b2test.LifecycleRule{Prefix: c.prefix, DaysFromUploadingToHiding: &seven})
		rs, _ := store(context.Background(), lockStorage(srv, c.lock))
		n := 0
		for _, r := range rs {
			if r.What == "storage b2 lifecycle" && r.Level == Fail && strings.Contains(r.Message, "hides files 7 day(s) after their upload") &&
				strings.Contains(r.Fix, `"daysFromUploadingToHiding": null`) {
				n++
			}
		}
		if (n == 1) != c.fails {
			t.Errorf("a rule on %q: %d failures in\n%s", c.prefix, n, lines(rs))
		}
	}
}
