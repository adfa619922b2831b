package b2test

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/Backblaze/blazer/b2"
	"github.com/Backblaze/blazer/base"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newLocked starts a server whose clock is at, with testBucket lock-enabled
// and the given default retention, and a raw client on it.
func newLocked(t *testing.T, mode string, days int, at *time.Time) (*Server, *rawClient) {
	t.Helper()
	s := New(t)
	s.SetNow(func() time.Time { return *at })
	s.CreateLockedBucket(testBucket, mode, days)
	return s, newRawOn(t, s)
}

// rawFile is a file object as the raw client decodes it.
type rawFile struct {
	ID        string `json:"fileId"`
	Name      string `json:"fileName"`
	Action    string `json:"action"`
	Retention struct {
		Readable bool `json:"isClientAuthorizedToRead"`
		Value    *struct {
			Mode  *string `json:"mode"`
			Until *int64  `json:"retainUntilTimestamp"`
		} `json:"value"`
	} `json:"fileRetention"`
}

// put uploads body under name with extra headers and returns the file.
func (rc *rawClient) put(name string, body []byte, hdr map[string]string, status int) rawFile {
	rc.t.Helper()
	url, tok := rc.uploadURL("")
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", tok)
	req.Header.Set("X-Bz-File-Name", name)
	req.Header.Set("Content-Type", "b2/x-auto")
	req.Header.Set("X-Bz-Content-Sha1", sha(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	var f rawFile
	if status == 200 {
		rc.do(req, status, &f)
	} else {
		rc.do(req, status, nil)
	}
	return f
}

// lockHeaders asks for mode until t on upload.
func lockHeaders(mode string, t time.Time) map[string]string {
	return map[string]string{
		"X-Bz-File-Retention-Mode":                   mode,
		"X-Bz-File-Retention-Retain-Until-Timestamp": strconv.FormatInt(t.UnixMilli(), 10),
	}
}

// versionOf returns the server's view of one version.
func versionOf(t *testing.T, s *Server, id string) File {
	t.Helper()
	for _, f := range s.Versions(testBucket) {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("no version %s", id)
	return File{}
}

func (rc *rawClient) deleteVersion(f rawFile, bypass bool, status int) {
	rc.t.Helper()
	rc.call("b2_delete_file_version", map[string]any{"fileName": f.Name, "fileId": f.ID, "bypassGovernance": bypass}, status, nil)
}

func (rc *rawClient) setRetention(f rawFile, mode any, until time.Time, bypass bool, status int) {
	rc.t.Helper()
	var ms any
	if mode != nil {
		ms = until.UnixMilli()
	}
	rc.call("b2_update_file_retention", map[string]any{"fileName": f.Name, "fileId": f.ID,
		"fileRetention": map[string]any{"mode": mode, "retainUntilTimestamp": ms}, "bypassGovernance": bypass}, status, nil)
}

// TestDefaultRetention: a bucket's default retention locks every new
// version for its period from the upload, reported by listings and by
// the bucket's fileLockConfiguration.
func TestDefaultRetention(t *testing.T) {
	now := t0
	s, rc := newLocked(t, Governance, 7, &now)
	f := rc.put("a", []byte("x"), nil, 200)
	v := versionOf(t, s, f.ID)
	if v.LockMode != Governance || !v.RetainUntil.Equal(t0.Add(7*24*time.Hour)) {
		t.Errorf("version retention %s until %v; want governance 7 days from upload", v.LockMode, v.RetainUntil)
	}
	if f.Retention.Value == nil || *f.Retention.Value.Mode != Governance || *f.Retention.Value.Until != v.RetainUntil.UnixMilli() {
		t.Errorf("upload answer fileRetention %+v", f.Retention)
	}
	var lb struct {
		Buckets []struct {
			Lock struct {
				Readable bool `json:"isClientAuthorizedToRead"`
				Value    struct {
					Enabled bool `json:"isFileLockEnabled"`
					Default struct {
						Mode   *string `json:"mode"`
						Period *struct {
							Duration int    `json:"duration"`
							Unit     string `json:"unit"`
						} `json:"period"`
					} `json:"defaultRetention"`
				} `json:"value"`
			} `json:"fileLockConfiguration"`
		} `json:"buckets"`
	}
	rc.call("b2_list_buckets", map[string]any{"accountId": accountID, "bucketName": testBucket}, 200, &lb)
	l := lb.Buckets[0].Lock
	if !l.Readable || !l.Value.Enabled || l.Value.Default.Mode == nil || *l.Value.Default.Mode != Governance ||
		l.Value.Default.Period == nil || l.Value.Default.Period.Duration != 7 || l.Value.Default.Period.Unit != "days" {
		t.Errorf("fileLockConfiguration %+v", l)
	}
	// Years count 365 days; a default needs file lock.
	rc.call("b2_update_bucket", map[string]any{"accountId": accountID, "bucketId": rc.bucketID,
		"defaultRetention": map[string]any{"mode": "compliance", "period": map[string]any{"duration": 1, "unit": "years"}}}, 200, nil)
	g := rc.put("b", []byte("y"), nil, 200)
	if v := versionOf(t, s, g.ID); v.LockMode != Compliance || !v.RetainUntil.Equal(t0.Add(365*24*time.Hour)) {
		t.Errorf("after a 1-year compliance default: %s until %v", v.LockMode, v.RetainUntil)
	}
	s.CreateBucket("plain-bucket")
	var plain struct {
		ID string `json:"bucketId"`
	}
	rc.call("b2_list_buckets", map[string]any{"accountId": accountID, "bucketName": "plain-bucket"}, 200, &struct{}{})
	for _, b := range s.buckets {
		if b.name == "plain-bucket" {
			plain.ID = b.id
		}
	}
	rc.call("b2_update_bucket", map[string]any{"accountId": accountID, "bucketId": plain.ID,
		"defaultRetention": map[string]any{"mode": "governance", "period": map[string]any{"duration": 1, "unit": "days"}}}, 400, nil)
}

// TestLockWithoutDefault: B2 answers a lock-enabled bucket without a
// default retention with {"mode": null, "period": null}; blazer opens,
// writes and lists such a bucket, and its uploads carry no retention.
func TestLockWithoutDefault(t *testing.T) {
	now := t0
	s, rc := newLocked(t, "", 0, &now)
	var lb struct {
		Buckets []struct {
			Lock struct {
				Value struct {
					Default map[string]any `json:"defaultRetention"`
				} `json:"value"`
			} `json:"fileLockConfiguration"`
		} `json:"buckets"`
	}
	rc.call("b2_list_buckets", map[string]any{"accountId": accountID, "bucketName": testBucket}, 200, &lb)
	d := lb.Buckets[0].Lock.Value.Default
	if v, ok := d["mode"]; !ok || v != nil {
		t.Errorf("defaultRetention %v; want mode null", d)
	}
	if v, ok := d["period"]; !ok || v != nil {
		t.Errorf("defaultRetention %v; want period null", d)
	}
	ctx := testCtx(t)
	c, err := b2.NewClient(ctx, s.KeyID, s.AppKey, b2.APIBase(s.URL))
	if err != nil {
		t.Fatal(err)
	}
	bk, err := c.Bucket(ctx, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(ctx, bk, "n", []byte("z")); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, ctx, bk); len(got) != 1 {
		t.Errorf("listed %v", got)
	}
	if v := s.Versions(testBucket)[0]; v.LockMode != "" || !v.RetainUntil.IsZero() {
		t.Errorf("upload without a default got retention %s until %v", v.LockMode, v.RetainUntil)
	}
}

// TestUploadRetention: per-file retention from the upload headers and from
// b2_start_large_file, refused without file lock or writeFileRetentions.
func TestUploadRetention(t *testing.T) {
	now := t0
	s, rc := newLocked(t, Governance, 1, &now)
	until := t0.Add(30 * 24 * time.Hour)
	f := rc.put("c", []byte("x"), lockHeaders(Compliance, until), 200)
	if v := versionOf(t, s, f.ID); v.LockMode != Compliance || !v.RetainUntil.Equal(until) {
		t.Errorf("header retention: %s until %v", v.LockMode, v.RetainUntil)
	}
	rc.put("c", []byte("x"), lockHeaders(Compliance, t0.Add(-time.Hour)), 400)
	rc.put("c", []byte("x"), lockHeaders("forever", until), 400)
	var lf struct {
		ID string `json:"fileId"`
	}
	rc.call("b2_start_large_file", map[string]any{"bucketId": rc.bucketID, "fileName": "big", "contentType": "b2/x-auto",
		"fileRetention": map[string]any{"mode": "governance", "retainUntilTimestamp": until.UnixMilli()}}, 200, &lf)
	if v := versionOf(t, s, lf.ID); v.LockMode != Governance || !v.RetainUntil.Equal(until) {
		t.Errorf("large file retention: %s until %v", v.LockMode, v.RetainUntil)
	}
	s.RestrictKey("", "listFiles", "readFiles", "writeFiles", "deleteFiles")
	rc.put("c", []byte("x"), lockHeaders(Governance, until), 401)
	s.RestrictKey("")
	s.CreateBucket("plain-bucket")
	var lb struct {
		Buckets []struct {
			ID string `json:"bucketId"`
		} `json:"buckets"`
	}
	rc.call("b2_list_buckets", map[string]any{"accountId": accountID, "bucketName": "plain-bucket"}, 200, &lb)
	rc.bucketID = lb.Buckets[0].ID
	rc.put("c", []byte("x"), lockHeaders(Governance, until), 400)
}

// TestDeleteUnderRetention: a retained version is not deleted (401
// access_denied); governance yields to bypassGovernance with the
// capability, compliance to nobody; once the retention ends, or for a hide
// marker, deleting works, and hiding is always allowed.
func TestDeleteUnderRetention(t *testing.T) {
	now := t0
	s, rc := newLocked(t, Governance, 7, &now)
	gov := rc.put("g", []byte("x"), nil, 200)
	comp := rc.put("k", []byte("x"), lockHeaders(Compliance, t0.Add(7*24*time.Hour)), 200)
	rc.deleteVersion(gov, false, 401)
	rc.deleteVersion(comp, false, 401)
	rc.deleteVersion(comp, true, 401)
	var hide rawFile
	rc.call("b2_hide_file", map[string]any{"bucketId": rc.bucketID, "fileName": "g"}, 200, &hide)
	if hide.Action != "hide" {
		t.Errorf("hide answered %+v", hide)
	}
	rc.deleteVersion(hide, false, 200) // a hide marker has no retention
	s.RestrictKey("", "listFiles", "readFiles", "writeFiles", "deleteFiles")
	rc.deleteVersion(gov, true, 401) // bypass needs the capability
	s.RestrictKey("")
	rc.deleteVersion(gov, true, 200)
	now = t0.Add(7*24*time.Hour + time.Millisecond)
	rc.deleteVersion(comp, false, 200)
	if n := len(s.Versions(testBucket)); n != 0 {
		t.Errorf("%d versions left", n)
	}
}

// TestUpdateFileRetention: retention may be lengthened and governance
// turned into compliance; governance is shortened or removed only with
// bypassGovernance, compliance never.
func TestUpdateFileRetention(t *testing.T) {
	now := t0
	s, rc := newLocked(t, "", 0, &now)
	day := 24 * time.Hour
	f := rc.put("f", []byte("x"), nil, 200)
	rc.setRetention(f, Governance, t0.Add(2*day), false, 200)
	rc.setRetention(f, Governance, t0.Add(3*day), false, 200)
	rc.setRetention(f, Governance, t0.Add(day), false, 401)
	rc.setRetention(f, nil, time.Time{}, false, 401)
	rc.setRetention(f, Governance, t0.Add(day), true, 200)
	if v := versionOf(t, s, f.ID); !v.RetainUntil.Equal(t0.Add(day)) {
		t.Errorf("after a bypassed shortening: until %v", v.RetainUntil)
	}
	rc.setRetention(f, nil, time.Time{}, true, 200)
	if v := versionOf(t, s, f.ID); v.LockMode != "" {
		t.Errorf("after a bypassed removal: %s", v.LockMode)
	}
	rc.setRetention(f, Governance, t0.Add(day), false, 200)
	rc.setRetention(f, Compliance, t0.Add(day), false, 200)
	rc.setRetention(f, Compliance, t0.Add(day/2), true, 401)
	rc.setRetention(f, Governance, t0.Add(2*day), true, 401)
	rc.setRetention(f, nil, time.Time{}, true, 401)
	rc.setRetention(f, Compliance, t0.Add(5*day), false, 200)
	s.RestrictKey("", "listFiles", "readFiles", "writeFiles", "deleteFiles")
	rc.setRetention(f, Compliance, t0.Add(6*day), false, 401)
	if v := versionOf(t, s, f.ID); v.LockMode != Compliance || !v.RetainUntil.Equal(t0.Add(5*day)) {
		t.Errorf("final retention %s until %v", v.LockMode, v.RetainUntil)
	}
}

// TestCapabilitiesEnforced: each call needs its capability; retention
// values are shown only to keys that may read them.
func TestCapabilitiesEnforced(t *testing.T) {
	now := t0
	s, rc := newLocked(t, Governance, 1, &now)
	f := rc.put("a", []byte("x"), nil, 200)
	s.RestrictKey(testBucket, "listFiles", "readFiles", "writeFiles")
	rc.deleteVersion(f, false, 401)
	var list struct {
		Files []rawFile `json:"files"`
	}
	rc.call("b2_list_file_versions", map[string]any{"bucketId": rc.bucketID}, 200, &list)
	if len(list.Files) != 1 || list.Files[0].Retention.Readable || list.Files[0].Retention.Value != nil {
		t.Errorf("retention shown to a key without readFileRetentions: %+v", list.Files)
	}
	var lb struct {
		Buckets []struct {
			Lock struct {
				Readable bool `json:"isClientAuthorizedToRead"`
				Value    any  `json:"value"`
			} `json:"fileLockConfiguration"`
		} `json:"buckets"`
	}
	rc.call("b2_list_buckets", map[string]any{"accountId": accountID, "bucketName": testBucket}, 200, &lb)
	if l := lb.Buckets[0].Lock; l.Readable || l.Value != nil {
		t.Errorf("lock configuration shown to a key without readBucketRetentions: %+v", l)
	}
	rc.call("b2_hide_file", map[string]any{"bucketId": rc.bucketID, "fileName": "a"}, 200, nil)
	s.RestrictKey(testBucket, "readFiles")
	rc.call("b2_list_file_names", map[string]any{"bucketId": rc.bucketID}, 401, nil)
	rc.call("b2_get_upload_url", map[string]any{"bucketId": rc.bucketID}, 401, nil)
	rc.call("b2_update_bucket", map[string]any{"accountId": accountID, "bucketId": rc.bucketID, "bucketType": "allPrivate"}, 401, nil)
}

// TestStorageCap: past the cap, uploads are answered 403
// storage_cap_exceeded, which blazer does not retry; listing, reading and
// deleting go on, and deleting frees room.
func TestStorageCap(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	if err := put(ctx, bk, "a", randBytes(1000)); err != nil {
		t.Fatal(err)
	}
	s.SetStorageCap(1500)
	err := put(ctx, bk, "b", randBytes(1000))
	if code, msg, _ := base.MsgCode(err); code != 403 || msg != "storage_cap_exceeded" {
		t.Fatalf("upload past the cap = %v", err)
	}
	if n := s.Count("b2_upload_file"); n != 2 {
		t.Errorf("%d upload requests; want the refused one not retried", n)
	}
	if got := listed(t, ctx, bk); len(got) != 1 {
		t.Errorf("listed at the cap: %v", got)
	}
	if _, err := get(ctx, bk, "a"); err != nil {
		t.Errorf("read at the cap: %v", err)
	}
	if err := bk.Object("a").Delete(ctx); err != nil {
		t.Errorf("delete at the cap: %v", err)
	}
	if err := put(ctx, bk, "b", randBytes(1000)); err != nil {
		t.Errorf("upload after freeing room: %v", err)
	}
	// Parts count too.
	rc := newRawOn(t, s)
	id := rc.startRaw("big")
	rc.part(id, 1, randBytes(1000), 403)
	s.SetStorageCap(0)
	rc.part(id, 1, randBytes(1000), 200)
}

// TestLifecycle: daysFromHidingToDeleting removes versions that many days
// after they were superseded or hidden, never one under retention;
// daysFromUploadingToHiding hides old names.
func TestLifecycle(t *testing.T) {
	now := t0
	s, rc := newLocked(t, "", 0, &now)
	one, three := 1, 3
	s.SetLifecycleRules(testBucket, LifecycleRule{Prefix: "", DaysFromHidingToDeleting: &one},
		LifecycleRule{Prefix: "old/", DaysFromUploadingToHiding: &three})
	rc.put("x", []byte("1"), nil, 200)
	rc.put("x", []byte("2"), lockHeaders(Governance, t0.Add(10*24*time.Hour)), 200)
	rc.put("x", []byte("3"), nil, 200) // supersedes the locked one
	rc.put("gone", []byte("g"), nil, 200)
	rc.call("b2_hide_file", map[string]any{"bucketId": rc.bucketID, "fileName": "gone"}, 200, nil)
	rc.put("old/y", []byte("o"), nil, 200)
	if h, d := s.ApplyLifecycle(); h != 0 || d != 0 {
		t.Errorf("same day: hid %d, deleted %d", h, d)
	}
	now = t0.Add(4 * 24 * time.Hour)
	s.ApplyLifecycle()
	names := map[string][]string{}
	for _, f := range s.Versions(testBucket) {
		names[f.Name] = append(names[f.Name], f.Action+":"+f.LockMode)
	}
	if got := names["x"]; len(got) != 2 || got[1] != "upload:governance" {
		t.Errorf("x versions %v; want the newest and the locked one", got)
	}
	if got := names["gone"]; len(got) != 0 {
		t.Errorf("hidden name left %v", got)
	}
	if got := names["old/y"]; len(got) != 2 || got[0] != "hide:" {
		t.Errorf("old/y versions %v; want hidden", got)
	}
}
