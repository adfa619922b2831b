package s3

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/signer"

	"mbackup/internal/storage"
)

// Lock is the Object Lock retention every object the store writes gets.
type Lock = storage.Lock

// Lock modes.
const (
	Governance = storage.Governance
	Compliance = storage.Compliance
)

// putOptions are the options of a single PUT or of the creation of a
// multipart upload: with Config.Lock, the retention mode and a
// retain-until of now plus its days (x-amz-object-lock-mode and
// -retain-until-date), which the bucket must have Object Lock to accept.
func (s *Store) putOptions() minio.PutObjectOptions {
	o := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if l := s.cfg.Lock; l.Mode != "" {
		o.Mode = minio.RetentionMode(strings.ToUpper(l.Mode))
		o.RetainUntilDate = time.Now().Add(time.Duration(l.Days) * 24 * time.Hour).UTC()
	}
	return o
}

// lockMD5 is the Content-MD5 of the data in buf when Config.Lock is set,
// else "": AWS requires it (or a checksum) on every upload request of an
// object with a retention. So under a lock PutSized buffers too.
func (s *Store) lockMD5(buf *partBuf) string {
	if s.cfg.Lock.Mode == "" {
		return ""
	}
	h := md5.New()
	io.Copy(h, buf.reader())
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// retention reads the Object Lock retention of one version of name with
// GetObjectRetention (GET ?retention&versionId=), signed here: minio-go's
// own call refuses versitygw's answer (root <ObjectLockRetention>, not
// <Retention>), and a HEAD on versitygw omits the retention of a version
// under a delete marker. Zero when the version has none. Path-style URL.
func (s *Store) retention(ctx context.Context, name, id string) (mode string, until time.Time, err error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	region, err := s.region(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	scheme := "https"
	if s.cfg.DisableTLS {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: s.cfg.Endpoint, Path: "/" + s.cfg.Bucket + "/" + name,
		RawQuery: "retention=&versionId=" + url.QueryEscape(id)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	req = signer.SignV4(*req, s.cfg.AccessKeyID, s.cfg.SecretAccessKey, "", region)
	resp, err := s.http.Do(req)
	if err != nil {
		return "", time.Time{}, s.cause(ctx, err, nil)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", time.Time{}, s.cause(ctx, err, nil)
	}
	return parseRetention(resp, body)
}

// emptySHA256 is the SHA-256 of an empty body, in hex.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// parseRetention reads a GetObjectRetention answer: a retention, none
// (NoSuchObjectLockConfiguration: 404 on AWS, 400 on versitygw; or a
// bucket without Object Lock), or an error.
func parseRetention(resp *http.Response, body []byte) (string, time.Time, error) {
	if resp.StatusCode != http.StatusOK {
		var e minio.ErrorResponse
		_ = xml.Unmarshal(body, &e)
		e.StatusCode = resp.StatusCode
		if strings.Contains(e.Code, "ObjectLock") || e.Code == "InvalidRequest" && strings.Contains(e.Message, "Object Lock") {
			return "", time.Time{}, nil
		}
		return "", time.Time{}, fmt.Errorf("object retention: %d %s %s", resp.StatusCode, e.Code, e.Message)
	}
	var r struct { // any root element
		Mode  string
		Until string `xml:"RetainUntilDate"`
	}
	if err := xml.Unmarshal(body, &r); err != nil {
		return "", time.Time{}, fmt.Errorf("object retention: %w", err)
	}
	until, err := time.Parse(time.RFC3339, r.Until)
	if r.Mode == "" || err != nil {
		return "", time.Time{}, nil
	}
	return strings.ToLower(r.Mode), until.UTC(), nil
}

// region is Config.Region or the bucket's, which minio-go caches.
func (s *Store) region(ctx context.Context) (string, error) {
	if s.cfg.Region != "" {
		return s.cfg.Region, nil
	}
	r, err := s.client.GetBucketLocation(ctx, s.cfg.Bucket)
	if err != nil {
		return "", fmt.Errorf("bucket location: %w", s.cause(ctx, err, nil))
	}
	return r, nil
}

// isLockRefusal tells a delete refused because the version is retained:
// S3 answers 403 AccessDenied (versitygw: "Access Denied because object
// protected by object lock").
func isLockRefusal(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && (resp.Code == "AccessDenied" || resp.StatusCode == http.StatusForbidden)
}
