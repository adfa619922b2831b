package b2test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// tokenKind says what a token authorizes.
type tokenKind int

const (
	accountToken  tokenKind = iota // every API call and download
	uploadToken                    // b2_upload_file to one bucket
	partToken                      // b2_upload_part of one large file
	downloadToken                  // downloads of names with a prefix in one bucket
)

// token is an issued authorization token.
type token struct {
	kind    tokenKind
	target  string // bucket id (upload, download) or file id (part)
	prefix  string // download tokens only
	expired bool
	busy    bool // an upload is using it; B2 allows one at a time
}

// issue creates a token; s.mu is held.
func (s *Server) issue(kind tokenKind, target, prefix string) string {
	s.seq++
	name := [...]string{"acct", "upld", "part", "dnld"}[kind]
	id := fmt.Sprintf("4_%s_%012d_b2test", name, s.seq)
	s.tokens[id] = &token{kind: kind, target: target, prefix: prefix}
	return id
}

// checkToken looks up the token in the Authorization header and requires
// kind (and target, if not empty); s.mu is held.
func (s *Server) checkToken(c *call, kind tokenKind, target string) error {
	tk := s.tokens[c.r.Header.Get("Authorization")]
	if tk == nil || tk.kind != kind || target != "" && tk.target != target {
		return badToken()
	}
	if tk.expired {
		return &apiError{status: 401, code: "expired_auth_token", msg: "Authorization token has expired"}
	}
	return nil
}

// acquireUpload checks an upload or part token and marks it busy until
// release is called: B2 refuses a second concurrent upload on one token
// with 400 "more than one upload using auth token", which blazer answers
// by fetching a new upload URL.
func (s *Server) acquireUpload(c *call, kind tokenKind, target string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkToken(c, kind, target); err != nil {
		return nil, err
	}
	tk := s.tokens[c.r.Header.Get("Authorization")]
	if tk.busy {
		return nil, badRequest("more than one upload using auth token %s", c.r.Header.Get("Authorization"))
	}
	tk.busy = true
	return func() {
		s.mu.Lock()
		tk.busy = false
		s.mu.Unlock()
	}, nil
}

// apiHandlers serve POST /b2api/v3/<method> once the account token checked.
var apiHandlers = map[string]func(*Server, *call) error{
	"b2_list_buckets":                (*Server).listBuckets,
	"b2_create_bucket":               (*Server).createBucketCall,
	"b2_update_bucket":               (*Server).updateBucket,
	"b2_delete_bucket":               (*Server).deleteBucket,
	"b2_get_upload_url":              (*Server).getUploadURL,
	"b2_start_large_file":            (*Server).startLargeFile,
	"b2_get_upload_part_url":         (*Server).getUploadPartURL,
	"b2_finish_large_file":           (*Server).finishLargeFile,
	"b2_cancel_large_file":           (*Server).cancelLargeFile,
	"b2_list_parts":                  (*Server).listParts,
	"b2_list_file_names":             (*Server).listFileNames,
	"b2_list_file_versions":          (*Server).listFileVersions,
	"b2_list_unfinished_large_files": (*Server).listUnfinished,
	"b2_get_file_info":               (*Server).getFileInfo,
	"b2_hide_file":                   (*Server).hideFile,
	"b2_delete_file_version":         (*Server).deleteFileVersion,
	"b2_get_download_authorization":  (*Server).getDownloadAuthorization,
	"b2_update_file_retention":       (*Server).updateFileRetention,
}

// api serves /b2api/v3/<method>.
func (s *Server) api(c *call) error {
	switch c.method {
	case "b2_authorize_account":
		return s.authorize(c)
	case "b2_download_file_by_id":
		return s.downloadByID(c)
	}
	h := apiHandlers[c.method]
	if h == nil {
		return &apiError{status: 404, code: "not_found", msg: "unsupported B2 call " + c.method}
	}
	if c.r.Method != http.MethodPost {
		return &apiError{status: 405, code: "method_not_allowed", msg: c.method + " takes POST"}
	}
	s.mu.Lock()
	err := s.checkToken(c, accountToken, "")
	if err == nil && callCaps[c.method] != "" {
		err = s.need(callCaps[c.method])
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return h(s, c)
}

// authorize serves b2_authorize_account (HTTP Basic key id:key).
func (s *Server) authorize(c *call) error {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.KeyID+":"+s.AppKey))
	if c.r.Header.Get("Authorization") != want {
		return &apiError{status: 401, code: "unauthorized", msg: "invalid application key id or key"}
	}
	s.mu.Lock()
	tok := s.issue(accountToken, "", "")
	caps, keyBkt := s.caps, s.keyBkt
	s.mu.Unlock()
	if caps == nil {
		caps = []string{"listBuckets", "writeBuckets", "deleteBuckets",
			"listFiles", "readFiles", "writeFiles", "deleteFiles", "shareFiles",
			"readBucketEncryption", "writeBucketEncryption", "readBucketRetentions",
			"writeBucketRetentions", "readFileRetentions", "writeFileRetentions",
			"readFileLegalHolds", "writeFileLegalHolds", "bypassGovernance",
			"readBucketReplications", "writeBucketReplications"}
	}
	var bucketName any
	if keyBkt != "" {
		bucketName = keyBkt
	}
	c.ok(map[string]any{
		"accountId":                         accountID,
		"authorizationToken":                tok,
		"applicationKeyExpirationTimestamp": nil,
		"apiInfo": map[string]any{"storageApi": map[string]any{
			"absoluteMinimumPartSize": minPartSize,
			"recommendedPartSize":     recommendedPart,
			"apiUrl":                  s.URL,
			"downloadUrl":             s.URL,
			"s3ApiUrl":                s.URL + "/s3",
			"bucketId":                nil,
			"bucketName":              bucketName,
			"namePrefix":              nil,
			"infoType":                "storageApi",
			"capabilities":            caps,
		}},
	})
	return nil
}

// getUploadURL serves b2_get_upload_url.
func (s *Server) getUploadURL(c *call) error {
	var req struct {
		BucketID string `json:"bucketId"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bucketByID(req.BucketID) == nil {
		return badRequest("invalid bucketId: %s", req.BucketID)
	}
	c.ok(map[string]any{
		"bucketId":           req.BucketID,
		"uploadUrl":          s.URL + uploadPrefix + req.BucketID,
		"authorizationToken": s.issue(uploadToken, req.BucketID, ""),
	})
	return nil
}

// getUploadPartURL serves b2_get_upload_part_url.
func (s *Server) getUploadPartURL(c *call) error {
	var req struct {
		FileID string `json:"fileId"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[req.FileID]
	if f == nil || f.action != "start" {
		return badRequest("no such unfinished large file: %s", req.FileID)
	}
	c.name = f.name
	c.ok(map[string]any{
		"fileId":             f.id,
		"uploadUrl":          s.URL + partPrefix + f.id,
		"authorizationToken": s.issue(partToken, f.id, ""),
	})
	return nil
}

// getDownloadAuthorization serves b2_get_download_authorization.
func (s *Server) getDownloadAuthorization(c *call) error {
	var req struct {
		BucketID string `json:"bucketId"`
		Prefix   string `json:"fileNamePrefix"`
		Valid    int    `json:"validDurationInSeconds"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.Valid < 1 || req.Valid > 604800 {
		return badRequest("validDurationInSeconds must be 1..604800")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bucketByID(req.BucketID) == nil {
		return badRequest("invalid bucketId: %s", req.BucketID)
	}
	c.ok(map[string]any{
		"bucketId":           req.BucketID,
		"fileNamePrefix":     req.Prefix,
		"authorizationToken": s.issue(downloadToken, req.BucketID, req.Prefix),
	})
	return nil
}

// downloadAllowed reports whether the request's token (header or
// Authorization query parameter) may read name in b; s.mu is held.
func (s *Server) downloadAllowed(c *call, b *bucket, name string) error {
	raw := c.r.Header.Get("Authorization")
	if raw == "" {
		raw = c.r.URL.Query().Get("Authorization")
	}
	tk := s.tokens[raw]
	switch {
	case b.typ == "allPublic":
		return nil
	case tk == nil:
		return badToken()
	case tk.expired:
		return &apiError{status: 401, code: "expired_auth_token", msg: "Authorization token has expired"}
	case tk.kind == accountToken:
		return s.need("readFiles")
	case tk.kind == downloadToken && tk.target == b.id && strings.HasPrefix(name, tk.prefix):
		return nil
	}
	return &apiError{status: 401, code: "unauthorized", msg: "token does not allow reading " + name}
}
