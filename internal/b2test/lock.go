package b2test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Object Lock as B2 documents it: a bucket created or updated with
// fileLockEnabled (never turned off again) may carry a defaultRetention
// {mode, period{duration, unit: days|years}} applied to every version
// uploaded without its own retention. A version's retention comes from the
// X-Bz-File-Retention-Mode and X-Bz-File-Retention-Retain-Until-Timestamp
// headers of b2_upload_file, the fileRetention of b2_start_large_file, the
// bucket default, or b2_update_file_retention. While a version is retained,
// b2_delete_file_version refuses it (governance yields to bypassGovernance
// with the key's bypassGovernance capability; compliance to nobody), and
// b2_update_file_retention may lengthen it but shorten or remove a
// governance retention only with that bypass, a compliance one never.
// b2_hide_file is always allowed. A year counts 365 days.

// Lock modes.
const (
	Governance = "governance"
	Compliance = "compliance"
)

// retention is a bucket's default retention; zero when none.
type retention struct {
	mode string
	days int
}

// json is the defaultRetention value B2 returns.
func (r retention) json() map[string]any {
	if r.mode == "" {
		return map[string]any{"mode": nil, "period": nil}
	}
	return map[string]any{"mode": r.mode, "period": map[string]any{"duration": r.days, "unit": "days"}}
}

// retentionRequest is defaultRetention as b2_create_bucket and
// b2_update_bucket take it.
type retentionRequest struct {
	Mode   *string `json:"mode"`
	Period *struct {
		Duration int    `json:"duration"`
		Unit     string `json:"unit"`
	} `json:"period"`
}

// parse checks the request: a mode with a positive period, or neither.
func (r retentionRequest) parse() (retention, error) {
	if r.Mode == nil || *r.Mode == "" {
		if r.Period != nil {
			return retention{}, badRequest("defaultRetention: a period needs a mode")
		}
		return retention{}, nil
	}
	if err := checkMode(*r.Mode); err != nil {
		return retention{}, err
	}
	if r.Period == nil || r.Period.Duration < 1 {
		return retention{}, badRequest("defaultRetention: mode %s needs a positive period", *r.Mode)
	}
	switch r.Period.Unit {
	case "days":
		return retention{*r.Mode, r.Period.Duration}, nil
	case "years":
		return retention{*r.Mode, 365 * r.Period.Duration}, nil
	}
	return retention{}, badRequest("defaultRetention: period unit %q is not days or years", r.Period.Unit)
}

func checkMode(m string) error {
	if m != Governance && m != Compliance {
		return badRequest("invalid retention mode %q: governance or compliance", m)
	}
	return nil
}

// locked reports whether f is under retention at now.
func (f *file) locked(now time.Time) bool {
	return f.lockMode != "" && f.retainUntil.After(now)
}

// retentionJSON is the fileRetention of a file object: its value is
// hidden from a key without readFileRetentions.
func (f *file) retentionJSON(readable bool) map[string]any {
	if !readable {
		return map[string]any{"isClientAuthorizedToRead": false, "value": nil}
	}
	v := map[string]any{"mode": nil, "retainUntilTimestamp": nil}
	if f.lockMode != "" {
		v = map[string]any{"mode": f.lockMode, "retainUntilTimestamp": f.retainUntil.UnixMilli()}
	}
	return map[string]any{"isClientAuthorizedToRead": true, "value": v}
}

// uploadRetention applies a new version's retention: the one asked for
// (needs writeFileRetentions and a lock-enabled bucket) or else the
// bucket default; s.mu is held.
func (s *Server) uploadRetention(f *file, mode string, until *int64) error {
	b := f.bucket
	if mode == "" && until == nil {
		if b.defaultRet.mode != "" {
			f.lockMode = b.defaultRet.mode
			f.retainUntil = f.uploaded.Add(time.Duration(b.defaultRet.days) * 24 * time.Hour)
		}
		return nil
	}
	if err := s.need("writeFileRetentions"); err != nil {
		return err
	}
	if !b.lockEnabled {
		return badRequest("file lock is not enabled on bucket %s", b.name)
	}
	if err := checkMode(mode); err != nil {
		return err
	}
	if until == nil {
		return badRequest("a retention mode needs a retain-until timestamp")
	}
	t := time.UnixMilli(*until)
	if !t.After(s.now()) {
		return badRequest("retain-until timestamp %d is not in the future", *until)
	}
	f.lockMode, f.retainUntil = mode, t
	return nil
}

// retentionHeaders reads the retention headers of b2_upload_file.
func retentionHeaders(h http.Header) (string, *int64, error) {
	mode := h.Get("X-Bz-File-Retention-Mode")
	raw := h.Get("X-Bz-File-Retention-Retain-Until-Timestamp")
	if raw == "" {
		return mode, nil, nil
	}
	ms, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return "", nil, badRequest("bad X-Bz-File-Retention-Retain-Until-Timestamp %q", raw)
	}
	return mode, &ms, nil
}

// fileRetention is the fileRetention of b2_start_large_file and
// b2_update_file_retention.
type fileRetention struct {
	Mode  *string `json:"mode"`
	Until *int64  `json:"retainUntilTimestamp"`
}

func (r *fileRetention) mode() string {
	if r == nil || r.Mode == nil {
		return ""
	}
	return *r.Mode
}

func (r *fileRetention) until() *int64 {
	if r == nil {
		return nil
	}
	return r.Until
}

// updateFileRetention serves b2_update_file_retention.
func (s *Server) updateFileRetention(c *call) error {
	var req struct {
		Name      string         `json:"fileName"`
		FileID    string         `json:"fileId"`
		Retention *fileRetention `json:"fileRetention"`
		Bypass    bool           `json:"bypassGovernance"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	c.name = req.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.need("writeFileRetentions"); err != nil {
		return err
	}
	f := s.files[req.FileID]
	if f == nil || f.name != req.Name || f.action != "upload" {
		return badRequest("File not present: %s %s", req.Name, req.FileID).(*apiError).withCode("file_not_present")
	}
	if !f.bucket.lockEnabled {
		return badRequest("file lock is not enabled on bucket %s", f.bucket.name)
	}
	if req.Retention == nil {
		return badRequest("fileRetention is required")
	}
	mode, until := req.Retention.mode(), req.Retention.until()
	var t time.Time
	if mode != "" {
		if err := checkMode(mode); err != nil {
			return err
		}
		if until == nil {
			return badRequest("a retention mode needs a retain-until timestamp")
		}
		t = time.UnixMilli(*until)
	}
	if err := s.mayChange(f, mode, t, req.Bypass); err != nil {
		return err
	}
	f.lockMode, f.retainUntil = mode, t
	if mode == "" {
		f.retainUntil = time.Time{}
	}
	c.ok(map[string]any{"fileId": f.id, "fileName": f.name, "fileRetention": f.retentionJSON(true)["value"]})
	return nil
}

// mayChange applies B2's rules to replacing f's retention by (mode, until):
// lengthening is always allowed, as is governance becoming compliance;
// shortening or removing governance needs bypassGovernance (and the
// capability); compliance is never shortened, removed or weakened while it
// runs; s.mu is held.
func (s *Server) mayChange(f *file, mode string, until time.Time, bypass bool) error {
	if bypass {
		if err := s.need("bypassGovernance"); err != nil {
			return err
		}
	}
	if !f.locked(s.now()) {
		return nil
	}
	weaker := mode == "" || until.Before(f.retainUntil)
	switch {
	case f.lockMode == Compliance && (weaker || mode != Compliance):
		return accessDenied("compliance retention of %s until %s cannot be shortened or removed", f.name, stamp(f.retainUntil))
	case f.lockMode == Governance && weaker && !bypass:
		return accessDenied("governance retention of %s until %s can be shortened or removed only with bypassGovernance", f.name, stamp(f.retainUntil))
	}
	return nil
}

// mayDelete refuses to delete a version under retention; s.mu is held.
func (s *Server) mayDelete(f *file, bypass bool) error {
	if bypass {
		if err := s.need("bypassGovernance"); err != nil {
			return err
		}
	}
	if !f.locked(s.now()) || f.lockMode == Governance && bypass {
		return nil
	}
	return accessDenied("file version %s of %s is protected by %s retention until %s", f.id, f.name, f.lockMode, stamp(f.retainUntil))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// accessDenied is B2's answer to an action that Object Lock forbids.
func accessDenied(format string, args ...any) error {
	return &apiError{status: http.StatusUnauthorized, code: "access_denied", msg: fmt.Sprintf(format, args...)}
}

// need requires capability c of the key; s.mu is held.
func (s *Server) need(c string) error {
	if s.caps == nil || slices.Contains(s.caps, c) {
		return nil
	}
	return &apiError{status: http.StatusUnauthorized, code: "unauthorized",
		msg: fmt.Sprintf("application key lacks the %s capability", c)}
}

// callCaps is the capability each API call needs. b2_list_buckets is not
// listed: a key restricted to one bucket may always list that bucket.
var callCaps = map[string]string{
	"b2_create_bucket":               "writeBuckets",
	"b2_update_bucket":               "writeBuckets",
	"b2_delete_bucket":               "deleteBuckets",
	"b2_get_upload_url":              "writeFiles",
	"b2_start_large_file":            "writeFiles",
	"b2_get_upload_part_url":         "writeFiles",
	"b2_finish_large_file":           "writeFiles",
	"b2_cancel_large_file":           "writeFiles",
	"b2_hide_file":                   "writeFiles",
	"b2_list_parts":                  "writeFiles",
	"b2_list_file_names":             "listFiles",
	"b2_list_file_versions":          "listFiles",
	"b2_list_unfinished_large_files": "listFiles",
	"b2_get_file_info":               "readFiles",
	"b2_delete_file_version":         "deleteFiles",
	"b2_get_download_authorization":  "shareFiles",
	"b2_update_file_retention":       "writeFileRetentions",
}

// CreateLockedBucket makes a private bucket with file lock enabled and, when
// mode is not "", a default retention of days: the bucket "b2 bucket create
// --file-lock-enabled" and "b2 bucket update --default-retention-mode"
// make.
func (s *Server) CreateLockedBucket(name, mode string, days int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.createBucket(name, "allPrivate")
	b.lockEnabled = true
	b.defaultRet = retention{mode, days}
	if mode == "" {
		b.defaultRet = retention{}
	}
}

// LifecycleRule is one lifecycle rule of a bucket, as B2 takes it.
type LifecycleRule struct {
	Prefix                    string `json:"fileNamePrefix"`
	DaysFromHidingToDeleting  *int   `json:"daysFromHidingToDeleting"`
	DaysFromUploadingToHiding *int   `json:"daysFromUploadingToHiding"`
}

// SetLifecycleRules replaces a bucket's lifecycle rules.
func (s *Server) SetLifecycleRules(bucket string, rules ...LifecycleRule) {
	raw, _ := json.Marshal(append([]LifecycleRule{}, rules...))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets[bucket].rules = raw
}

// SetStorageCap makes uploads (b2_upload_file, b2_upload_part) that would
// bring the bytes stored by every version and part past capBytes fail with
// B2's 403 storage_cap_exceeded, as when the account's daily storage cap
// (Caps & Alerts) is reached. 0 removes the cap. Everything else works.
func (s *Server) SetStorageCap(capBytes int64) {
	s.mu.Lock()
	s.capBytes = capBytes
	s.mu.Unlock()
}

// checkCap refuses n more bytes past the storage cap; s.mu is held.
func (s *Server) checkCap(n int64) error {
	if s.capBytes <= 0 {
		return nil
	}
	var used int64
	for _, f := range s.files {
		used += f.size
		for _, p := range f.parts {
			used += p.size
		}
	}
	if used+n > s.capBytes {
		return &apiError{status: http.StatusForbidden, code: "storage_cap_exceeded",
			msg: "Cannot upload files, storage cap exceeded. See the Caps & Alerts page to increase your cap."}
	}
	return nil
}
