package b2test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// bucketJSON is a bucket as B2 v3 returns it. fileLockConfiguration and
// replicationConfiguration are always present: blazer dereferences both.
func (b *bucket) json(readSSE, readLock bool) map[string]any {
	var sseValue json.RawMessage
	if readSSE {
		sseValue = rawOr(b.sse, `{"mode":null}`)
	}
	info := b.info
	if info == nil {
		info = map[string]string{}
	}
	return map[string]any{
		"accountId":      accountID,
		"bucketId":       b.id,
		"bucketName":     b.name,
		"bucketType":     b.typ,
		"bucketInfo":     info,
		"lifecycleRules": b.rules,
		"corsRules":      b.cors,
		"options":        []string{},
		"revision":       b.rev,
		"defaultServerSideEncryption": map[string]any{
			"isClientAuthorizedToRead": readSSE,
			"value":                    sseValue,
		},
		"fileLockConfiguration": b.lockJSON(readLock),
		"replicationConfiguration": map[string]any{
			"isClientAuthorizedToRead": true,
			"value":                    rawOr(b.replication, "null"),
		},
	}
}

// lockJSON is the bucket's fileLockConfiguration; its value is null for a
// key without readBucketRetentions.
func (b *bucket) lockJSON(readable bool) map[string]any {
	if !readable {
		return map[string]any{"isClientAuthorizedToRead": false, "value": nil}
	}
	return map[string]any{"isClientAuthorizedToRead": true, "value": map[string]any{
		"isFileLockEnabled": b.lockEnabled,
		"defaultRetention":  b.defaultRet.json(),
	}}
}

func rawOr(v json.RawMessage, def string) json.RawMessage {
	if len(v) == 0 || string(v) == "null" {
		return json.RawMessage(def)
	}
	return v
}

// listBuckets serves b2_list_buckets.
func (s *Server) listBuckets(c *call) error {
	var req struct {
		BucketID   string   `json:"bucketId"`
		BucketName string   `json:"bucketName"`
		Types      []string `json:"bucketTypes"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	var names []string
	for n := range s.buckets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := s.buckets[n]
		if req.BucketID != "" && b.id != req.BucketID || req.BucketName != "" && n != req.BucketName ||
			len(req.Types) > 0 && !slices.Contains(req.Types, b.typ) && !slices.Contains(req.Types, "all") {
			continue
		}
		out = append(out, b.json(s.readsSSE(), s.need("readBucketRetentions") == nil))
	}
	c.ok(map[string]any{"buckets": out})
	return nil
}

// createBucketCall serves b2_create_bucket.
func (s *Server) createBucketCall(c *call) error {
	var req struct {
		Name  string            `json:"bucketName"`
		Type  string            `json:"bucketType"`
		Info  map[string]string `json:"bucketInfo"`
		Rules json.RawMessage   `json:"lifecycleRules"`
		Lock  bool              `json:"fileLockEnabled"`
		Ret   *retentionRequest `json:"defaultRetention"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	var ret retention
	if req.Ret != nil {
		var err error
		if ret, err = req.Ret.parse(); err != nil {
			return err
		}
	}
	if ret.mode != "" && !req.Lock {
		return badRequest("a default retention needs fileLockEnabled")
	}
	if err := checkBucketName(req.Name); err != nil {
		return err
	}
	if req.Type != "allPrivate" && req.Type != "allPublic" {
		return badRequest("invalid bucketType %q", req.Type)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[req.Name]; ok {
		return badRequest("Bucket name is already in use.").(*apiError).withCode("duplicate_bucket_name")
	}
	b := s.createBucket(req.Name, req.Type)
	if req.Info != nil {
		b.info = req.Info
	}
	if len(req.Rules) > 0 && string(req.Rules) != "null" {
		b.rules = req.Rules
	}
	b.lockEnabled, b.defaultRet = req.Lock, ret
	c.ok(b.json(s.readsSSE(), s.need("readBucketRetentions") == nil))
	return nil
}

func (e *apiError) withCode(code string) error {
	e.code = code
	return e
}

// checkBucketName applies B2's bucket name rules: 6 to 50 letters, digits
// and '-', not starting with "b2-".
func checkBucketName(name string) error {
	if len(name) < 6 || len(name) > 50 || strings.HasPrefix(strings.ToLower(name), "b2-") {
		return badRequest("bucket name %q must be 6 to 50 characters, not starting with b2-", name)
	}
	for _, r := range name {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return badRequest("bucket name %q may contain only letters, digits and '-'", name)
		}
	}
	return nil
}

// updateBucketRequest is the body of b2_update_bucket.
type updateBucketRequest struct {
	BucketID     string            `json:"bucketId"`
	Type         string            `json:"bucketType"`
	Info         map[string]string `json:"bucketInfo"`
	Rules        json.RawMessage   `json:"lifecycleRules"`
	IfRevisionIs int               `json:"ifRevisionIs"`
	CORS         json.RawMessage   `json:"corsRules"`
	Retention    *retentionRequest `json:"defaultRetention"`
	SSE          json.RawMessage   `json:"defaultServerSideEncryption"`
	Lock         bool              `json:"fileLockEnabled"`
	Replication  json.RawMessage   `json:"replicationConfiguration"`
}

// updateBucket serves b2_update_bucket; absent fields stay unchanged, and a
// stale ifRevisionIs is a 409 conflict.
func (s *Server) updateBucket(c *call) error {
	var req updateBucketRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucketByID(req.BucketID)
	if b == nil {
		return badRequest("invalid bucketId: %s", req.BucketID)
	}
	if req.IfRevisionIs != 0 && req.IfRevisionIs != b.rev {
		return &apiError{status: http.StatusConflict, code: "conflict", msg: "ifRevisionIs does not match"}
	}
	if err := s.updateLock(b, req); err != nil {
		return err
	}
	if req.Type != "" {
		b.typ = req.Type
	}
	if req.Info != nil {
		b.info = req.Info
	}
	set := func(dst *json.RawMessage, v json.RawMessage) {
		if len(v) > 0 && string(v) != "null" {
			*dst = v
		}
	}
	set(&b.rules, req.Rules)
	set(&b.cors, req.CORS)
	set(&b.sse, req.SSE)
	set(&b.replication, req.Replication)
	b.rev++
	c.ok(b.json(s.readsSSE(), s.need("readBucketRetentions") == nil))
	return nil
}

// updateLock applies fileLockEnabled (never turned off again) and
// defaultRetention, which need writeBucketRetentions and, for a
// retention, a lock-enabled bucket; s.mu is held.
func (s *Server) updateLock(b *bucket, req updateBucketRequest) error {
	if !req.Lock && req.Retention == nil {
		return nil
	}
	if err := s.need("writeBucketRetentions"); err != nil {
		return err
	}
	var ret retention
	if req.Retention != nil {
		var err error
		if ret, err = req.Retention.parse(); err != nil {
			return err
		}
		if !b.lockEnabled && !req.Lock {
			return badRequest("file lock is not enabled on bucket %s", b.name)
		}
	}
	if req.Lock {
		b.lockEnabled = true
	}
	if req.Retention != nil {
		b.defaultRet = ret
	}
	return nil
}

// deleteBucket serves b2_delete_bucket; a bucket with files is refused.
func (s *Server) deleteBucket(c *call) error {
	var req struct {
		BucketID string `json:"bucketId"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucketByID(req.BucketID)
	if b == nil {
		return badRequest("Bucket %s does not exist", req.BucketID)
	}
	if len(s.versions(b)) > 0 {
		return badRequest("Cannot delete non-empty bucket").(*apiError).withCode("cannot_delete_non_empty_bucket")
	}
	delete(s.buckets, b.name)
	c.ok(b.json(s.readsSSE(), s.need("readBucketRetentions") == nil))
	return nil
}

// readsSSE tells whether the key may read bucket encryption; s.mu is held.
func (s *Server) readsSSE() bool {
	return s.caps == nil || slices.Contains(s.caps, "readBucketEncryption")
}
