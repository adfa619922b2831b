package preflight

import (
	"fmt"
	"slices"
	"strings"

	"mbackup/internal/config"
	"mbackup/internal/storage/b2"
)

// b2Lock reports what the bucket and the key a holds mean for sc.Lock:
// file lock on the bucket, a default retention long enough (or a key
// that sets one per file), the capabilities the mode needs, no
// bypassGovernance on this host, and with a key that only hides, a
// lifecycle rule that deletes hidden versions. Without a lock, one
// warning recommends it. Lock or not, a lifecycle rule that hides uploads
// under the prefix fails (autoHide).
func b2Lock(a b2.Access, sc config.Storage, hides bool) []Result {
	return append(autoHide(a, sc), lockLines(a, sc, hides)...)
}

// lockLines are b2Lock's lines about storage.lock.
func lockLines(a b2.Access, sc config.Storage, hides bool) []Result {
	r := &results{what: "storage b2 lock"}
	l := sc.Lock
	if l == nil {
		r.warn("storage.lock is not set: whoever takes this host can delete every backup with its key",
			"set storage.lock (see the README's \"Object Lock\"): every object stays undeletable for its days")
		return r.rs
	}
	if !a.FileLockReadable {
		r.fail("this key may not read the bucket's Object Lock settings (readBucketRetentions), so the lock cannot be checked",
			keyFix(neededCaps(*l, hides)))
		return r.rs
	}
	if !a.FileLockEnabled {
		r.fail(fmt.Sprintf("bucket %s has no Object Lock: nothing stops this host's key from deleting the backups", sc.Bucket),
			fmt.Sprintf("turn it on (for good: it cannot be turned off): b2 bucket update --file-lock-enabled %s "+
				"(or the web console: Buckets, Object Lock); or make a new bucket: b2 bucket create --file-lock-enabled %s allPrivate",
				sc.Bucket, sc.Bucket))
		return r.rs
	}
	r.ok(fmt.Sprintf("bucket %s has Object Lock", sc.Bucket))
	r.rs = append(r.rs, defaultRetention(a, sc)...)
	r.rs = append(r.rs, lockKey(a, *l, hides)...)
	if hides {
		r.rs = append(r.rs, lifecycle(a, sc)...)
	}
	return r.rs
}

// defaultRetention checks the bucket's default retention against the
// lock: long enough, or a key that sets each object's retention itself.
func defaultRetention(a b2.Access, sc config.Storage) []Result {
	r := &results{what: "storage b2 lock retention"}
	l := *sc.Lock
	have := "no default retention"
	if a.DefaultMode != "" {
		have = fmt.Sprintf("a default retention of %d days (%s)", a.DefaultDays, a.DefaultMode)
	}
	switch {
	case defaultCovers(a, l):
		r.ok(fmt.Sprintf("bucket %s has %s: every object is locked for at least storage.lock.days (%d)", sc.Bucket, have, l.Days))
	case slices.Contains(a.Capabilities, "writeFileRetentions"):
		r.ok(fmt.Sprintf("bucket %s has %s; this key sets each object's retention on upload (%s, %d days)", sc.Bucket, have, l.Mode, l.Days))
	default:
		r.fail(fmt.Sprintf("bucket %s has %s, not %s for %d days (storage.lock), and this key cannot set a retention per file "+
			"(writeFileRetentions): objects would not be locked as configured", sc.Bucket, have, l.Mode, l.Days),
			fmt.Sprintf("b2 bucket update --default-retention-mode %s --default-retention-period \"%d days\" %s, "+
				"or give the key writeFileRetentions", l.Mode, l.Days, sc.Bucket))
	}
	return r.rs
}

// defaultCovers reports whether the bucket's default retention gives every
// upload at least lock l: as many days, in its mode or in compliance.
func defaultCovers(a b2.Access, l config.Lock) bool {
	return a.FileLockEnabled && a.DefaultDays >= l.Days && (a.DefaultMode == l.Mode || a.DefaultMode == config.LockCompliance)
}

// lockKey checks the key's capabilities for the lock: what the mode
// needs, and no bypassGovernance, with which whoever takes this host
// could shorten governance locks and erase everything.
func lockKey(a b2.Access, l config.Lock, hides bool) []Result {
	r := &results{what: "storage b2 key"}
	bl := b2.Lock{Mode: l.Mode, Days: l.Days}
	need, m := b2.NeededFor(bl, hides), a.MissingFor(bl)
	if defaultCovers(a, l) {
		// The bucket's default locks every upload: no retention to send.
		other := func(c string) bool { return c == "writeFileRetentions" }
		need, m = slices.DeleteFunc(need, other), slices.DeleteFunc(m, other)
	}
	if len(m) > 0 {
		r.fail("lacks "+strings.Join(m, ", ")+" for storage.lock", keyFix(neededCaps(l, hides)))
	} else {
		r.ok("has " + strings.Join(need, ", "))
	}
	if !slices.Contains(a.Capabilities, "bypassGovernance") {
		return r.rs
	}
	if l.Mode == config.LockGovernance {
		r.fail("holds bypassGovernance: whoever takes this host can shorten the governance locks and erase every backup",
			keyFix(neededCaps(l, hides))+"; keep a key with bypassGovernance offline")
	} else {
		r.warn("holds bypassGovernance, which compliance locks ignore: this host never needs it", keyFix(neededCaps(l, hides)))
	}
	return r.rs
}

// lifecycle checks, for a key that hides instead of deleting, that a
// lifecycle rule deletes the hidden versions under the store's prefix.
func lifecycle(a b2.Access, sc config.Storage) []Result {
	r := &results{what: "storage b2 lifecycle"}
	prefix := storePrefix(sc)
	for _, rule := range a.Lifecycle {
		if strings.HasPrefix(prefix, rule.Prefix) && rule.DaysFromHidingToDeleting > 0 {
			r.ok(fmt.Sprintf("prune hides (this key has no deleteFiles); the lifecycle rule on %q deletes hidden versions "+
				"%d day(s) after hiding, once their lock has ended", rule.Prefix, rule.DaysFromHidingToDeleting))
			return r.rs
		}
	}
	r.fail(fmt.Sprintf("prune hides (this key has no deleteFiles) and no lifecycle rule deletes hidden versions under %q: "+
		"they would be stored, and billed, forever", prefix),
		fmt.Sprintf(`b2 bucket update --lifecycle-rule '{"fileNamePrefix": %q, "daysFromHidingToDeleting": 1, `+
			`"daysFromUploadingToHiding": null}' %s (give every existing rule too: the option replaces them)`, prefix, sc.Bucket))
	return r.rs
}

// autoHide fails on a lifecycle rule that hides files a number of days
// after their upload under the store's prefix: snapshots would vanish from
// list and restore whatever the retention says.
func autoHide(a b2.Access, sc config.Storage) []Result {
	r := &results{what: "storage b2 lifecycle"}
	prefix := storePrefix(sc)
	for _, rule := range a.Lifecycle {
		if rule.DaysFromUploadingToHiding > 0 && (strings.HasPrefix(prefix, rule.Prefix) || strings.HasPrefix(rule.Prefix, prefix)) {
			r.fail(fmt.Sprintf("the lifecycle rule on %q hides files %d day(s) after their upload: snapshots would vanish "+
				"from list and restore whatever retention keeps", rule.Prefix, rule.DaysFromUploadingToHiding),
				fmt.Sprintf(`set "daysFromUploadingToHiding": null in that rule (b2 bucket update --lifecycle-rule ... %s): prune deletes`, sc.Bucket))
		}
	}
	return r.rs
}

// storePrefix is the store's prefix as B2 names start: "mastodon/", or "".
func storePrefix(sc config.Storage) string {
	prefix := strings.Trim(sc.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return prefix
}

// neededCaps are the capabilities of a key for lock l, and
// readBucketRetentions, with which check sees the bucket's lock.
func neededCaps(l config.Lock, hides bool) []string {
	return append(b2.NeededFor(b2.Lock{Mode: l.Mode, Days: l.Days}, hides), "readBucketRetentions")
}

// keyFix says how to make a key with caps (and nothing more).
func keyFix(caps []string) string {
	return fmt.Sprintf("make a key with exactly %s (b2 key create --bucket BUCKET NAME %s)",
		strings.Join(caps, ", "), strings.Join(caps, ","))
}
