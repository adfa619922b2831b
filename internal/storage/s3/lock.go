package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Lock is the Object Lock retention every object the store writes gets.
type Lock struct {
	Mode string // "governance" or "compliance"; "" = no lock
	Days int    // retention of every written object, counted from its upload
}

// Lock modes.
const (
	Governance = "governance"
	Compliance = "compliance"
)

// check reports an unusable lock; the zero Lock is none.
func (l Lock) check() error {
	switch {
	case l.Mode == "" && l.Days == 0:
		return nil
	case l.Mode != Governance && l.Mode != Compliance:
		return fmt.Errorf("s3: lock mode %q is not governance or compliance", l.Mode)
	case l.Days < 1:
		return fmt.Errorf("s3: lock days %d must be at least 1", l.Days)
	}
	return nil
}

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

// retention reads the Object Lock retention of one version of name from
// its HEAD response headers (minio-go's GetObjectRetention cannot read
// versitygw's answer). Zero when it has none.
func (s *Store) retention(ctx context.Context, name, id string) (mode string, until time.Time, err error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	info, err := s.client.StatObject(ctx, s.cfg.Bucket, name, minio.StatObjectOptions{VersionID: id})
	if err != nil {
		return "", time.Time{}, s.cause(ctx, err, nil)
	}
	mode, until = retentionOf(info.Metadata)
	return mode, until, nil
}

// retentionOf parses the retention headers of a HEAD or GET response.
func retentionOf(h http.Header) (string, time.Time) {
	mode := strings.ToLower(h.Get("X-Amz-Object-Lock-Mode"))
	until, err := time.Parse(time.RFC3339, h.Get("X-Amz-Object-Lock-Retain-Until-Date"))
	if mode == "" || err != nil {
		return "", time.Time{}
	}
	return mode, until.UTC()
}

// isLockRefusal tells a delete refused because the version is retained:
// S3 answers 403 AccessDenied (versitygw: "Access Denied because object
// protected by object lock").
func isLockRefusal(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && (resp.Code == "AccessDenied" || resp.StatusCode == http.StatusForbidden)
}
