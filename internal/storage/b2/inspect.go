package b2

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Access is what the application key may do and how the bucket is set up,
// for "mbackup check".
type Access struct {
	// Capabilities are the key's capabilities (listFiles, readFiles, ...).
	Capabilities []string
	// KeyBucket is the bucket the key is restricted to; "" for any bucket.
	KeyBucket string
	// KeyPrefix is the file name prefix the key is restricted to, if any.
	KeyPrefix string
	// Encryption is the bucket's default server-side encryption mode
	// ("SSE-B2"), "" when off.
	Encryption string
	// EncryptionReadable is false when the key may not read the setting
	// (it lacks readBucketEncryption).
	EncryptionReadable bool
}

// Needed are the capabilities mbackup uses: listing, reading back,
// uploading and deleting (prune).
var Needed = []string{"listFiles", "readFiles", "writeFiles", "deleteFiles"}

// Missing returns the Needed capabilities the key lacks.
func (a Access) Missing() []string {
	var m []string
	for _, c := range Needed {
		if !slices.Contains(a.Capabilities, c) {
			m = append(m, c)
		}
	}
	return m
}

// Inspect asks B2 what the key may do (b2_authorize_account) and how the
// bucket is configured (b2_list_buckets). It speaks the v3 API directly:
// blazer v0.7.2 reads neither the key's capabilities nor the v3 shape of
// defaultServerSideEncryption ({isClientAuthorizedToRead, value}).
func (s *Store) Inspect(ctx context.Context) (Access, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	var auth struct {
		AccountID string `json:"accountId"`
		Token     string `json:"authorizationToken"`
		APIInfo   struct {
			Storage struct {
				APIURL       string   `json:"apiUrl"`
				Capabilities []string `json:"capabilities"`
				BucketName   *string  `json:"bucketName"`
				NamePrefix   *string  `json:"namePrefix"`
			} `json:"storageApi"`
		} `json:"apiInfo"`
	}
	base := s.cfg.APIBase
	if base == "" {
		base = "https://api.backblazeb2.com"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/b2api/v3/b2_authorize_account", nil)
	req.SetBasicAuth(s.cfg.KeyID, s.cfg.AppKey)
	if err := s.do(req, &auth); err != nil {
		return Access{}, fmt.Errorf("b2: inspect: authorize: %w", err)
	}
	st := auth.APIInfo.Storage
	a := Access{Capabilities: st.Capabilities, KeyBucket: deref(st.BucketName), KeyPrefix: deref(st.NamePrefix)}
	body, _ := json.Marshal(map[string]string{"accountId": auth.AccountID, "bucketName": s.cfg.Bucket})
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, st.APIURL+"/b2api/v3/b2_list_buckets", strings.NewReader(string(body)))
	req.Header.Set("Authorization", auth.Token)
	var list struct {
		Buckets []struct {
			SSE struct {
				Readable bool `json:"isClientAuthorizedToRead"`
				Value    *struct {
					Mode *string `json:"mode"`
				} `json:"value"`
			} `json:"defaultServerSideEncryption"`
		} `json:"buckets"`
	}
	if err := s.do(req, &list); err != nil {
		return a, fmt.Errorf("b2: inspect: list buckets: %w", err)
	}
	if len(list.Buckets) != 1 {
		return a, fmt.Errorf("b2: inspect: bucket %q not found by this key", s.cfg.Bucket)
	}
	sse := list.Buckets[0].SSE
	a.EncryptionReadable = sse.Readable
	if sse.Value != nil && sse.Value.Mode != nil {
		a.Encryption = *sse.Value.Mode
	}
	return a, nil
}

// do sends req and decodes a 200 answer into v, or returns B2's error.
func (s *Store) do(req *http.Request, v any) error {
	resp, err := (&http.Client{Transport: s.transport}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		json.Unmarshal(b, &e)
		return fmt.Errorf("%d %s: %s", resp.StatusCode, e.Code, e.Message)
	}
	return json.Unmarshal(b, v)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
