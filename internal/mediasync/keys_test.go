package mediasync

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"mbackup/internal/storage"
)

func TestKeysAreCopiedVerbatimOrSkipped(t *testing.T) {
	c, bucket := newBucket(t)
	keys := []string{
		"with space/a b.png",
		"unicode/ñandú/日本語.jpg",
		"plus+and&amp;=/x",
		"percent%20encoded",
		"tilde~/q?x",
		"folder/",                    // folder marker: B2 cannot end a name in /
		"a//b",                       // empty segment
		"/leading",                   // empty first segment
		"ctl/x\x01y",                 // control character
		"ctl/tab\there",              // control character
		"c1/x\u0085y",                // C1 control character
		"back\\slash",                // backslash
		strings.Repeat("long/", 190), // > MaxKeyLen once prefixed
	}
	for _, k := range keys {
		// Some forms may be refused by the server itself; those are
		// simply not part of the source.
		_, _ = c.PutObject(context.Background(), bucket, k, bytes.NewReader([]byte("data:"+k)), int64(len("data:"+k)), minioPut())
	}
	src := bucketContent(t, c, bucket)
	st, _ := newB2(t)
	var log bytes.Buffer
	o := opts(c, bucket, st, &log)
	res := mirror(t, o)

	want := map[string]string{}
	var skipped []string
	unreadable := 0
	for k, v := range src {
		if v == "<unreadable>" {
			unreadable++ // listed but not served: counted as raced
			continue
		}
		if err := validKey("media/" + k); err != nil {
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Fatal(err)
			}
			skipped = append(skipped, k)
			continue
		}
		want[k] = v
	}
	t.Logf("source holds %d of %d keys; %d skipped: %q", len(src), len(keys), len(skipped), skipped)
	for k := range src {
		t.Logf("listed %q", k)
	}
	if res.Raced != int64(unreadable) || res.Failed != 0 {
		t.Errorf("%+v; want %d raced", res.Counts, unreadable)
	}
	if len(skipped) < 3 || len(want) < 5 {
		t.Fatalf("too few keys exercised: %d skipped, %d legal", len(skipped), len(want))
	}
	sameContent(t, storeContent(t, st, "media/"), want)
	slices.Sort(skipped)
	got := slices.Clone(res.SkippedKeys)
	slices.Sort(got)
	if !slices.Equal(got, skipped) || res.Skipped != int64(len(skipped)) {
		t.Errorf("skipped %q, want %q", got, skipped)
	}
	for _, k := range skipped {
		if !strings.Contains(log.String(), "skip "+strconvQuote(k)) {
			t.Errorf("log lacks skip of %q", k)
		}
	}
	// Skipped keys don't make the run fail and are skipped again, quietly.
	if res = mirror(t, o); res.Copied != 0 || res.Skipped != int64(len(skipped)) {
		t.Fatalf("second run: %+v", res.Counts)
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"a", "a/b", "ñ/日本", "a b", "x%2F"} {
		if err := validKey(k); err != nil {
			t.Errorf("%q: %v", k, err)
		}
	}
	for _, k := range []string{"", "/a", "a/", "a//b", "a\x00", "a\x7f", "a\u0085", "a\u009f", "\xff", "a\\b", strings.Repeat("x", storage.MaxKeyLen+1)} {
		if err := validKey(k); err == nil {
			t.Errorf("%q accepted", k)
		}
	}
}
