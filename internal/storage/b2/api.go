package b2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"mbackup/internal/retry"
)

// The calls blazer v0.7.2 does not make (file versions with their
// retention, delete by id with a known outcome, hide, download by id,
// the key's capabilities and the bucket's lock configuration) are plain
// v3 JSON calls made here, with the store's own account token. Each runs
// within the caller's context (bounded by CallTimeout or DownloadTimeout),
// re-authorizes once on an expired token and retries 429 and 5xx answers
// and dropped connections at most apiAttempts times.

// apiAttempts bounds the tries of one direct call.
const apiAttempts = 5

// apiError is an error answer of B2.
type apiError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// isCode reports whether err is B2's answer status/code.
func isCode(err error, status int, code string) bool {
	var e *apiError
	return errors.As(err, &e) && e.Status == status && e.Code == code
}

// session is the store's own authorization and what it learnt with it.
type session struct {
	accountID   string
	apiURL      string
	downloadURL string
	token       string
	caps        []string
	keyBucket   string
	keyPrefix   string
	bucketID    string
}

// sessions holds the current session; login replaces it.
type sessions struct {
	mu  sync.Mutex
	cur *session
}

func (ss *sessions) get() *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.cur
}

func (ss *sessions) set(se *session) {
	ss.mu.Lock()
	ss.cur = se
	ss.mu.Unlock()
}

// authAnswer is the part of b2_authorize_account's answer the store reads.
type authAnswer struct {
	AccountID string `json:"accountId"`
	Token     string `json:"authorizationToken"`
	APIInfo   struct {
		Storage struct {
			APIURL       string   `json:"apiUrl"`
			DownloadURL  string   `json:"downloadUrl"`
			Capabilities []string `json:"capabilities"`
			BucketName   *string  `json:"bucketName"`
			NamePrefix   *string  `json:"namePrefix"`
		} `json:"storageApi"`
	} `json:"apiInfo"`
}

// authorize calls b2_authorize_account with the key.
func (s *Store) authorize(ctx context.Context) (*session, error) {
	base := s.cfg.APIBase
	if base == "" {
		base = "https://api.backblazeb2.com"
	}
	var a authAnswer
	err := s.send(ctx, nil, &a, func(*session) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/b2api/v3/b2_authorize_account", nil)
		if err == nil {
			req.SetBasicAuth(s.cfg.KeyID, s.cfg.AppKey)
		}
		return req, err
	})
	if err != nil {
		return nil, err
	}
	st := a.APIInfo.Storage
	return &session{accountID: a.AccountID, apiURL: st.APIURL, downloadURL: st.DownloadURL, token: a.Token,
		caps: st.Capabilities, keyBucket: deref(st.BucketName), keyPrefix: deref(st.NamePrefix)}, nil
}

// login authorizes and finds the bucket's id, then makes that the session.
func (s *Store) login(ctx context.Context) (*session, error) {
	se, err := s.authorize(ctx)
	if err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	bk, err := s.listBucket(ctx, se)
	if err != nil {
		return nil, err
	}
	se.bucketID = bk.ID
	s.sess.set(se)
	return se, nil
}

// call POSTs a JSON API call with the session's token and decodes the
// answer into out.
func (s *Store) call(ctx context.Context, method string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return s.send(ctx, s.sess.get(), out, func(se *session) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, se.apiURL+"/b2api/v3/"+method, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Authorization", se.token)
		}
		return req, err
	})
}

// send makes a request built for the session se (nil for authorization)
// and decodes a 200 answer into out, retrying as the file comment says.
func (s *Store) send(ctx context.Context, se *session, out any, build func(*session) (*http.Request, error)) error {
	resp, err := s.roundTrip(ctx, se, build)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// roundTrip returns the 200 (or 206) answer to a request built by build,
// re-authorizing once and retrying transient failures.
func (s *Store) roundTrip(ctx context.Context, se *session, build func(*session) (*http.Request, error)) (*http.Response, error) {
	client := &http.Client{Transport: meter{next: s.roundTripper()}}
	relogged := false
	var last error
	for attempt := 0; attempt < apiAttempts; attempt++ {
		if attempt > 0 {
			if err := retry.Sleep(ctx, backoff(attempt, last)); err != nil {
				return nil, last
			}
		}
		req, err := build(se)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			last = err
			continue
		}
		if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent {
			return resp, nil
		}
		last = readError(resp)
		switch {
		case se != nil && !relogged && (isCode(last, 401, "expired_auth_token") || isCode(last, 401, "bad_auth_token")):
			relogged = true
			if se, err = s.login(ctx); err != nil {
				return nil, err
			}
			attempt--
		case resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500:
			return nil, last
		}
	}
	return nil, last
}

// readError decodes B2's error answer and closes the body.
func readError(resp *http.Response) error {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &apiError{Status: resp.StatusCode}
	json.Unmarshal(b, e) //nolint:errcheck // a body that is not JSON leaves the status
	e.Status = resp.StatusCode
	if e.Code == "" {
		e.Code = http.StatusText(resp.StatusCode)
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return &retryAfter{apiError: e, after: time.Duration(n) * time.Second}
		}
	}
	return e
}

// retryAfter is an answer that asked to wait before the next try.
type retryAfter struct {
	*apiError
	after time.Duration
}

func (r *retryAfter) Unwrap() error { return r.apiError }

// backoff is the pause before try n: what the server asked for, else 100 ms
// doubling, at most 5 s. The caller's context bounds the wait.
func backoff(n int, last error) time.Duration {
	var ra *retryAfter
	if errors.As(last, &ra) {
		return ra.after
	}
	return min(100*time.Millisecond<<(n-1), 5*time.Second)
}

// bucketAnswer is the part of a b2_list_buckets entry the store reads.
type bucketAnswer struct {
	ID  string `json:"bucketId"`
	SSE struct {
		Readable bool `json:"isClientAuthorizedToRead"`
		Value    *struct {
			Mode *string `json:"mode"`
		} `json:"value"`
	} `json:"defaultServerSideEncryption"`
	Lock struct {
		Readable bool `json:"isClientAuthorizedToRead"`
		Value    *struct {
			Enabled bool `json:"isFileLockEnabled"`
			Default *struct {
				Mode   *string `json:"mode"`
				Period *struct {
					Duration int    `json:"duration"`
					Unit     string `json:"unit"`
				} `json:"period"`
			} `json:"defaultRetention"`
		} `json:"value"`
	} `json:"fileLockConfiguration"`
	Lifecycle []struct {
		Prefix   string `json:"fileNamePrefix"`
		ToDelete *int   `json:"daysFromHidingToDeleting"`
		ToHide   *int   `json:"daysFromUploadingToHiding"`
	} `json:"lifecycleRules"`
}

// defaultRetention returns the bucket's default retention mode and days
// (a year counted as 365 days); "" and 0 when there is none or the key
// may not read it. A mode without a period (B2 answers a bucket without
// a default with {"mode": null, "period": null}) counts as none.
func (b *bucketAnswer) defaultRetention() (string, int) {
	v := b.Lock.Value
	if v == nil || v.Default == nil || v.Default.Mode == nil || v.Default.Period == nil {
		return "", 0
	}
	d := v.Default.Period.Duration
	if v.Default.Period.Unit == "years" {
		d *= 365
	}
	return *v.Default.Mode, d
}

// listBucket finds the configured bucket with b2_list_buckets.
func (s *Store) listBucket(ctx context.Context, se *session) (*bucketAnswer, error) {
	var list struct {
		Buckets []bucketAnswer `json:"buckets"`
	}
	body, _ := json.Marshal(map[string]string{"accountId": se.accountID, "bucketName": s.cfg.Bucket})
	err := s.send(ctx, nil, &list, func(*session) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, se.apiURL+"/b2api/v3/b2_list_buckets", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Authorization", se.token)
		}
		return req, err
	})
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	if len(list.Buckets) != 1 {
		return nil, fmt.Errorf("bucket %q not found by this key", s.cfg.Bucket)
	}
	return &list.Buckets[0], nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
