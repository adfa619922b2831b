package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"mbackup/internal/storage"
)

func (c *suite) listOrder(t *testing.T) {
	// Written out of order; '-' (0x2d) sorts before '/' (0x2f), which a
	// directory walk gets wrong, and 'B' before 'a'.
	written := []string{"b", "a/z", "a-c", "a/b/c", "B", "a0", "a/b-", "ä", "a/a"}
	for _, k := range written {
		c.put(t, "conformance/order/"+k, []byte(k))
	}
	want := make([]string, len(written))
	for i, k := range written {
		want[i] = "conformance/order/" + k
	}
	slices.Sort(want)
	got := c.keys(t, "conformance/order/")
	if !slices.Equal(got, want) {
		t.Errorf("List order:\n got %q\nwant %q", got, want)
	}
	var sizes []int64
	_ = c.s.List(context.Background(), "conformance/order/", func(o storage.Object) error {
		sizes = append(sizes, o.Size)
		return nil
	})
	for i, k := range want {
		if i < len(sizes) && sizes[i] != int64(len(strings.TrimPrefix(k, "conformance/order/"))) {
			t.Errorf("List: %q has size %d", k, sizes[i])
		}
	}
	for _, k := range want {
		c.mustDelete(t, k)
	}
	if got := c.keys(t, "conformance/order/"); len(got) != 0 {
		t.Errorf("List after deleting everything = %q", got)
	}
}

func (c *suite) listPrefix(t *testing.T) {
	for _, k := range []string{"snap/1/a", "snap/1/b", "snap/10/a", "snap/2/a", "snapx"} {
		c.put(t, "conformance/prefix/"+k, []byte(k))
	}
	cases := map[string][]string{
		"snap/1/":  {"snap/1/a", "snap/1/b"},
		"snap/1":   {"snap/1/a", "snap/1/b", "snap/10/a"},
		"snap":     {"snap/1/a", "snap/1/b", "snap/10/a", "snap/2/a", "snapx"},
		"snap/3":   nil,
		"snap/2/a": {"snap/2/a"},
	}
	for p, want := range cases {
		var got []string
		for _, k := range c.keys(t, "conformance/prefix/"+p) {
			got = append(got, strings.TrimPrefix(k, "conformance/prefix/"))
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q; want %q", p, got, want)
		}
	}
	for _, k := range c.keys(t, "conformance/prefix/") {
		c.mustDelete(t, k)
	}
}

func (c *suite) listCallbackError(t *testing.T) {
	for i := range 5 {
		c.put(t, fmt.Sprintf("conformance/stop/%d", i), []byte{byte(i)})
	}
	stop := errors.New("enough")
	calls := 0
	err := c.s.List(context.Background(), "conformance/stop/", func(o storage.Object) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("List returned %v; want the callback's error", err)
	}
	if calls != 2 {
		t.Errorf("callback called %d times after returning an error at call 2", calls)
	}
	for i := range 5 {
		c.mustDelete(t, fmt.Sprintf("conformance/stop/%d", i))
	}
}

func (c *suite) overwrite(t *testing.T) {
	key := "conformance/overwrite/obj"
	c.put(t, key, []byte("first version"))
	second := data(2, c.o.PartSize+7)
	c.put(t, key, second)
	if got := c.get(t, key); !bytes.Equal(got, second) {
		t.Errorf("Get after overwrite returned %d bytes, not the second version", len(got))
	}
	if got := c.keys(t, "conformance/overwrite/"); !slices.Equal(got, []string{key}) {
		t.Errorf("List after overwrite = %q; want one key", got)
	}
	c.mustDelete(t, key)
	c.absent(t, key)
}

func (c *suite) deleteEveryVersion(t *testing.T) {
	key := "conformance/versions/obj"
	for i := range 3 {
		c.put(t, key, []byte(fmt.Sprintf("version %d", i)))
	}
	c.put(t, "conformance/versions/obj2", []byte("neighbour"))
	c.mustDelete(t, key)
	c.absent(t, key)
	if c.o.Versions != nil {
		if n := c.o.Versions(t, key); n != 0 {
			t.Errorf("after Delete the backend still holds %d versions of %q", n, key)
		}
	}
	if got := c.get(t, "conformance/versions/obj2"); string(got) != "neighbour" {
		t.Errorf("Delete(%q) damaged the neighbour key whose name it prefixes", key)
	}
	c.mustDelete(t, "conformance/versions/obj2")
}

func (c *suite) oddKeys(t *testing.T) {
	keys := []string{
		"conformance/odd/with space/and  two",
		"conformance/odd/ünïcødé/日本語/😀.bin",
		"conformance/odd/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p",
		"conformance/odd/plus+percent%20amp&eq=q?hash#",
		"conformance/odd/.hidden",
	}
	for i, k := range keys {
		c.put(t, k, []byte(fmt.Sprintf("payload %d", i)))
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if got := c.keys(t, "conformance/odd/"); !slices.Equal(got, want) {
		t.Errorf("List = %q; want %q", got, want)
	}
	for i, k := range keys {
		if got := c.get(t, k); string(got) != fmt.Sprintf("payload %d", i) {
			t.Errorf("Get(%q) = %q", k, got)
		}
		if _, err := c.s.Stat(context.Background(), k); err != nil {
			t.Errorf("Stat(%q): %v", k, err)
		}
		c.mustDelete(t, k)
		c.absent(t, k)
	}
}

func (c *suite) invalidKeys(t *testing.T) {
	for _, k := range []string{"", "/abs", "a//b", "trailing/", "../up", "a/./b", "a\x00b", "a/.mbackup-tmp"} {
		_, err := c.s.Put(context.Background(), k, strings.NewReader("x"))
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q) error = %v; want storage.ErrInvalidKey", k, err)
		}
	}
}

// brokenReader yields n bytes of data, then fails with errBroken.
type brokenReader struct {
	r io.Reader
}

var errBroken = errors.New("producer died")

func (b *brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errBroken
	}
	return n, err
}

func (c *suite) failingReader(t *testing.T) {
	for _, n := range []int{100, 2*c.o.PartSize + 3} {
		key := fmt.Sprintf("conformance/failing/%d", n)
		_, err := c.s.Put(context.Background(), key, &brokenReader{bytes.NewReader(data(9, n))})
		if err == nil {
			t.Errorf("Put with a reader failing after %d bytes succeeded", n)
		}
		c.absent(t, key)
		// A failed overwrite keeps the previous object.
		c.put(t, key, []byte("previous"))
		if _, err := c.s.Put(context.Background(), key, &brokenReader{bytes.NewReader(data(9, n))}); err == nil {
			t.Errorf("overwriting Put with a failing reader succeeded")
		}
		if got := c.get(t, key); string(got) != "previous" {
			t.Errorf("after a failed overwrite Get(%q) = %d bytes; want the previous object", key, len(got))
		}
		c.mustDelete(t, key)
	}
}

// cancellingReader cancels its context once it has yielded at bytes, then
// keeps yielding data to EOF: a store that ignores the context would commit.
type cancellingReader struct {
	r      io.Reader
	at     int
	read   int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	if c.read >= c.at {
		c.cancel()
	}
	return n, err
}

func (c *suite) cancelledPut(t *testing.T) {
	for _, n := range []int{1000, 3 * c.o.PartSize} {
		key := fmt.Sprintf("conformance/cancelled/%d", n)
		ctx, cancel := context.WithCancel(context.Background())
		r := &cancellingReader{r: bytes.NewReader(data(4, n)), at: n / 2, cancel: cancel}
		_, err := c.s.Put(ctx, key, r)
		cancel()
		if err == nil {
			t.Errorf("Put of %d bytes whose context was cancelled midway succeeded", n)
		}
		c.absent(t, key)
		ctx, cancel = context.WithCancel(context.Background())
		cancel()
		if _, err := c.s.Put(ctx, key, bytes.NewReader([]byte("x"))); err == nil {
			t.Errorf("Put with an already cancelled context succeeded")
		}
		c.absent(t, key)
	}
}

func (c *suite) concurrentPuts(t *testing.T) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("conformance/concurrent/%d", i)
			_, errs[i] = c.s.Put(context.Background(), key, bytes.NewReader(data(uint64(100+i), 1000+i*c.o.PartSize/4)))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Put %d: %v", i, err)
		}
	}
	for i := range n {
		key := fmt.Sprintf("conformance/concurrent/%d", i)
		if got := c.get(t, key); !bytes.Equal(got, data(uint64(100+i), 1000+i*c.o.PartSize/4)) {
			t.Errorf("concurrent Put %d: read back different bytes", i)
		}
		c.mustDelete(t, key)
	}
}
