package b2test

import (
	"strconv"
	"strings"
)

// fileJSON returns the B2 "file object" for f, with its fileRetention as
// the key may read it; s.mu is held.
func (s *Server) fileJSON(f *file) map[string]any {
	m := f.json()
	m["fileRetention"] = f.retentionJSON(s.need("readFileRetentions") == nil)
	m["legalHold"] = map[string]any{"isClientAuthorizedToRead": true, "value": nil}
	return m
}

// json returns the B2 "file object" for f, without Object Lock fields.
func (f *file) json() map[string]any {
	m := map[string]any{
		"accountId":       accountID,
		"action":          f.action,
		"bucketId":        f.bucket.id,
		"contentLength":   f.size,
		"contentMd5":      nil,
		"contentSha1":     f.sha1,
		"contentType":     f.contentType,
		"fileId":          f.id,
		"fileInfo":        f.info,
		"fileName":        f.name,
		"uploadTimestamp": f.uploaded.UnixMilli(),
	}
	if f.info == nil {
		m["fileInfo"] = map[string]string{}
	}
	if f.action == "hide" {
		m["contentSha1"] = nil
		m["contentType"] = "application/x-bz-hide-marker"
	}
	return m
}

// entry is one row of a listing: a file version, or a folder when a
// delimiter collapses names.
type entry struct {
	f      *file
	folder string // set for folders; the name up to and including the delimiter
}

func (e entry) name() string {
	if e.folder != "" {
		return e.folder
	}
	return e.f.name
}

func (e entry) json(s *Server) map[string]any {
	if e.folder == "" {
		return s.fileJSON(e.f)
	}
	return map[string]any{
		"accountId": accountID, "action": "folder", "bucketId": e.f.bucket.id,
		"contentLength": 0, "contentSha1": nil, "contentMd5": nil, "contentType": nil,
		"fileId": nil, "fileInfo": map[string]string{}, "fileName": e.folder, "uploadTimestamp": 0,
	}
}

// collapse keeps files under prefix and, with a delimiter, folds every name
// with the delimiter after the prefix into one folder entry.
func collapse(files []*file, prefix, delim string) []entry {
	var out []entry
	for _, f := range files {
		if !strings.HasPrefix(f.name, prefix) {
			continue
		}
		if delim != "" {
			if i := strings.Index(f.name[len(prefix):], delim); i >= 0 {
				folder := f.name[:len(prefix)+i+len(delim)]
				if len(out) > 0 && out[len(out)-1].folder == folder {
					continue
				}
				out = append(out, entry{f: f, folder: folder})
				continue
			}
		}
		out = append(out, entry{f: f})
	}
	return out
}

// listRequest is the body of the file listing calls.
type listRequest struct {
	BucketID  string `json:"bucketId"`
	StartName string `json:"startFileName"`
	StartID   string `json:"startFileId"`
	Count     int    `json:"maxFileCount"`
	Prefix    string `json:"prefix"`
	Delimiter string `json:"delimiter"`
	NamePfx   string `json:"namePrefix"` // b2_list_unfinished_large_files
}

// listFileNames serves b2_list_file_names: the newest version of each
// name, if that is an upload.
func (s *Server) listFileNames(c *call) error {
	var req listRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	count, err := pageSize(req.Count, 100, 10000)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucketByID(req.BucketID)
	if b == nil {
		return badRequest("invalid bucketId: %s", req.BucketID)
	}
	var current []*file
	for _, f := range s.versions(b) {
		last := len(current) - 1
		if f.action == "start" || last >= 0 && current[last].name == f.name {
			continue
		}
		current = append(current, f)
	}
	visible := current[:0]
	for _, f := range current {
		if f.action == "upload" {
			visible = append(visible, f)
		}
	}
	rows := collapse(visible, req.Prefix, req.Delimiter)
	i := 0
	for i < len(rows) && rows[i].name() < req.StartName {
		i++
	}
	page, next := s.pageOf(rows[i:], count)
	resp := map[string]any{"files": page, "nextFileName": nil}
	if next != nil {
		resp["nextFileName"] = next.name()
	}
	c.ok(resp)
	return nil
}

// pageOf returns the first count rows as JSON and the row after them.
func (s *Server) pageOf(rows []entry, count int) ([]map[string]any, *entry) {
	page := []map[string]any{}
	for i, e := range rows {
		if i == count {
			return page, &rows[i]
		}
		page = append(page, e.json(s))
	}
	return page, nil
}

// seqOf recovers the creation order encoded in a file id, so a listing can
// resume after the id's file was deleted.
func seqOf(id string) int64 {
	i := strings.LastIndex(id, "_f")
	if i < 0 {
		return 0
	}
	n, _ := strconv.ParseInt(id[i+2:], 10, 64)
	return n
}

// listFileVersions serves b2_list_file_versions: every version, hide
// markers and unfinished large files included.
func (s *Server) listFileVersions(c *call) error {
	var req listRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	count, err := pageSize(req.Count, 100, 10000)
	if err != nil {
		return err
	}
	if req.StartID != "" && req.StartName == "" {
		return badRequest("startFileId requires startFileName")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucketByID(req.BucketID)
	if b == nil {
		return badRequest("invalid bucketId: %s", req.BucketID)
	}
	rows := collapse(s.versions(b), req.Prefix, req.Delimiter)
	startSeq := seqOf(req.StartID)
	i := 0
	for i < len(rows) && (rows[i].name() < req.StartName ||
		req.StartID != "" && rows[i].name() == req.StartName && rows[i].folder == "" && rows[i].f.seq > startSeq) {
		i++
	}
	page, next := s.pageOf(rows[i:], count)
	resp := map[string]any{"files": page, "nextFileName": nil, "nextFileId": nil}
	if next != nil {
		resp["nextFileName"] = next.name()
		resp["nextFileId"] = next.f.id
	}
	c.ok(resp)
	return nil
}

// listUnfinished serves b2_list_unfinished_large_files, oldest first.
func (s *Server) listUnfinished(c *call) error {
	var req listRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	count, err := pageSize(req.Count, 100, 100)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucketByID(req.BucketID)
	if b == nil {
		return badRequest("invalid bucketId: %s", req.BucketID)
	}
	startSeq := seqOf(req.StartID)
	var rows []entry
	for _, f := range s.unfinished(b) {
		if strings.HasPrefix(f.name, req.NamePfx) && f.seq >= startSeq {
			rows = append(rows, entry{f: f})
		}
	}
	page, next := s.pageOf(rows, count)
	resp := map[string]any{"files": page, "nextFileId": nil}
	if next != nil {
		resp["nextFileId"] = next.f.id
	}
	c.ok(resp)
	return nil
}

// getFileInfo serves b2_get_file_info.
func (s *Server) getFileInfo(c *call) error {
	var req struct {
		FileID string `json:"fileId"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[req.FileID]
	if f == nil {
		return notFound("not_found", "file not present: "+req.FileID)
	}
	c.name = f.name
	c.ok(s.fileJSON(f))
	return nil
}

// hideFile serves b2_hide_file: a hide marker becomes the newest version.
func (s *Server) hideFile(c *call) error {
	var req struct {
		BucketID string `json:"bucketId"`
		Name     string `json:"fileName"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	c.name = req.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucketByID(req.BucketID)
	if b == nil {
		return badRequest("invalid bucketId: %s", req.BucketID)
	}
	last := s.latest(b, req.Name)
	switch {
	case last == nil:
		return notFound("no_such_file", "File not present: "+req.Name)
	case last.action == "hide":
		return badRequest("File already hidden: %s", req.Name).(*apiError).withCode("already_hidden")
	}
	f := s.newFile(b, req.Name, "hide")
	c.ok(s.fileJSON(f))
	return nil
}

// deleteFileVersion serves b2_delete_file_version; fileName must match and
// a version under retention stays (see mayDelete).
func (s *Server) deleteFileVersion(c *call) error {
	var req struct {
		Name   string `json:"fileName"`
		FileID string `json:"fileId"`
		Bypass bool   `json:"bypassGovernance"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	c.name = req.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[req.FileID]
	if f == nil || f.name != req.Name {
		return badRequest("File not present: %s %s", req.Name, req.FileID).(*apiError).withCode("file_not_present")
	}
	if err := s.mayDelete(f, req.Bypass); err != nil {
		return err
	}
	delete(s.files, f.id)
	c.ok(map[string]any{"fileId": f.id, "fileName": f.name})
	return nil
}
