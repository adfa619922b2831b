package b2

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"mbackup/internal/storage"
)

var _ storage.Versioned = (*Store)(nil)

// fileVersion is a file object of b2_list_file_versions with the fields
// the store reads, fileRetention included (blazer does not expose it).
type fileVersion struct {
	ID        string `json:"fileId"`
	Name      string `json:"fileName"`
	Action    string `json:"action"`
	Size      int64  `json:"contentLength"`
	Uploaded  int64  `json:"uploadTimestamp"`
	Retention struct {
		Value *struct {
			Mode  *string `json:"mode"`
			Until *int64  `json:"retainUntilTimestamp"`
		} `json:"value"`
	} `json:"fileRetention"`
}

// retention returns the version's lock mode and retain-until; "" and zero
// when it has none or the key may not read it (readFileRetentions).
func (f *fileVersion) retention() (string, time.Time) {
	v := f.Retention.Value
	if v == nil || v.Mode == nil || v.Until == nil {
		return "", time.Time{}
	}
	return *v.Mode, time.UnixMilli(*v.Until).UTC()
}

// versionPage is the number of versions asked for per listing call
// (Store.versionPage, which tests lower to reach the paging).
const versionPage = 1000

// listVersions calls fn for every version of the bucket whose name starts
// with namePrefix, from b2_list_file_versions pages of versionPage, each
// page within CallTimeout; unfinished large files are left out. An error
// of fn stops it and is returned as is.
func (s *Store) listVersions(ctx context.Context, namePrefix string, fn func(fileVersion) error) error {
	next := map[string]any{}
	for {
		req := map[string]any{"bucketId": s.sess.get().bucketID, "prefix": namePrefix, "maxFileCount": s.versionPage}
		for k, v := range next {
			req[k] = v
		}
		var page struct {
			Files    []fileVersion `json:"files"`
			NextName *string       `json:"nextFileName"`
			NextID   *string       `json:"nextFileId"`
		}
		cctx, cancel := s.callContext(ctx)
		err := s.call(cctx, "b2_list_file_versions", req, &page)
		err = cause(cctx, err)
		cancel()
		if err != nil {
			return err
		}
		for _, f := range page.Files {
			if f.Action != "upload" && f.Action != "hide" {
				continue
			}
			if err := fn(f); err != nil {
				return err
			}
		}
		if page.NextName == nil {
			return nil
		}
		next = map[string]any{"startFileName": *page.NextName, "startFileId": deref(page.NextID)}
	}
}

// Versions calls fn for every version of every key under prefix, hide
// markers included, with each version's retention: keys in ascending
// order, newest version first within a key. It lists with
// b2_list_file_versions, 1000 versions a page, each page within
// CallTimeout. A key without readFileRetentions sees no retention.
func (s *Store) Versions(ctx context.Context, prefix string, fn func(storage.Version) error) error {
	err := s.listVersions(ctx, s.name(prefix), func(f fileVersion) error {
		mode, until := f.retention()
		v := storage.Version{
			Object: storage.Object{Key: strings.TrimPrefix(f.Name, s.cfg.Prefix), Size: f.Size,
				Modified: time.UnixMilli(f.Uploaded).UTC()},
			ID: f.ID, Hidden: f.Action == "hide", RetainUntil: until, LockMode: mode,
		}
		if v.Hidden {
			v.Size = 0
		}
		return userErr{fn(v)}.orNil()
	})
	if u, ok := err.(userErr); ok {
		return u.err
	}
	if err != nil {
		return s.fail("list versions", prefix, ctx, err)
	}
	return nil
}

// userErr carries an error of the caller's callback through a listing, so
// that it is returned as is, not as the store's.
type userErr struct{ err error }

func (u userErr) Error() string { return u.err.Error() }

func (u userErr) orNil() error {
	if u.err == nil {
		return nil
	}
	return u
}

// methodDownloadByID names the request of GetVersion for the meter, which
// keeps a download in flight until its body is read.
const methodDownloadByID = "b2_download_file_by_id"

// GetVersion opens the version id of key with b2_download_file_by_id, one
// request read as a stream, under DownloadTimeout and the stall watchdog
// until the reader is closed. A missing id, a hide marker, or the id of
// another key is fs.ErrNotExist.
func (s *Store) GetVersion(ctx context.Context, key, id string) (io.ReadCloser, error) {
	if err := storage.ValidKey(key); err != nil {
		return nil, fmt.Errorf("b2: get version: %w", err)
	}
	what := key + " version " + id
	tctx, cancelTimeout := context.WithTimeoutCause(ctx, s.cfg.DownloadTimeout,
		fmt.Errorf("%w: not done within %v", errDownloadTimeout, s.cfg.DownloadTimeout))
	dctx, _, cancelWatch := watch(tctx, s.cfg.StallTimeout, s.cfg.UploadRetries)
	stop := func() {
		cancelWatch(nil)
		cancelTimeout()
	}
	resp, err := s.roundTrip(dctx, s.sess.get(), func(se *session) (*http.Request, error) {
		u := se.downloadURL + "/b2api/v3/b2_download_file_by_id?fileId=" + url.QueryEscape(id)
		req, err := http.NewRequestWithContext(dctx, http.MethodGet, u, nil)
		if err == nil {
			req.Header.Set("Authorization", se.token)
			req.Header.Set("X-Blazer-Method", methodDownloadByID)
		}
		return req, err
	})
	if err == nil && !sameName(resp.Header.Get("X-Bz-File-Name"), s.name(key)) {
		resp.Body.Close()
		err = fmt.Errorf("%w: the version belongs to another key", fs.ErrNotExist)
	}
	if isCode(err, http.StatusNotFound, "not_found") || isCode(err, http.StatusBadRequest, "bad_request") {
		err = fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	if err != nil {
		err = s.fail("get", what, dctx, err)
		stop()
		return nil, err
	}
	return &versionReader{s: s, what: what, ctx: dctx, body: resp.Body, stop: stop}, nil
}

// sameName compares a file name header (percent-encoded) with name.
func sameName(header, name string) bool {
	h, err := url.QueryUnescape(header)
	return err == nil && h == name
}

// versionReader is the io.ReadCloser of GetVersion.
type versionReader struct {
	s    *Store
	what string
	ctx  context.Context
	body io.ReadCloser
	stop func()
}

func (r *versionReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.fail("get", r.what, r.ctx, err)
	}
	return n, err
}

// Close ends the download and its watchdog.
func (r *versionReader) Close() error {
	err := r.body.Close()
	r.stop()
	return err
}
