// Command mirrorbench is the measuring half of bench/mirror.sh: each
// subcommand does one thing and, where it measures, prints one line of
// "key=value" pairs on stdout for the script to collect.
//
//	mkbucket    create buckets through the S3 API
//	seed        write N Mastodon-like objects straight into a versitygw posix
//	            bucket directory (file plus the user.etag attribute)
//	mirror      one mediasync.Mirror run into an s3, b2 or local store, with
//	            the requests of both sides counted and the peak RSS (VmHWM)
//	list        a bare ListObjectsV2 loop over the source: the floor
//	parts       the pieces of a no-op run timed one by one (source listing,
//	            store listing, index download, index upload)
//	serve-b2    a fake B2 (internal/b2test) in its own process, with request
//	            counts on a control address
//	serve-synth a ListObjectsV2 server synthesising N keys, no bodies
//
// Everything runs on 127.0.0.1 with throwaway credentials.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"mbackup/internal/b2test"
	"mbackup/internal/mediasync"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/local"
	"mbackup/internal/storage/s3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mirrorbench seed|mirror|list|parts|serve-b2|serve-synth [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"seed": seed, "mirror": mirror, "list": list, "parts": parts,
		"serve-b2": serveB2, "serve-synth": serveSynth, "mkbucket": mkbucket,
	}
	fn, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "mirrorbench: unknown subcommand %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := fn(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "mirrorbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// --- the fixture --------------------------------------------------------------

// Key returns the i-th fixture key: Mastodon's Paperclip layout, an 18-digit
// snowflake id split in groups of three, with the share of each kind of file
// roughly that of a small instance (attachments and their thumbnails, cached
// remote media, avatars and headers, custom emojis).
func Key(i int) string { return keyOfKind(i, i%20) }

// MixedKey is the i-th key of a fixture whose share of cache/ keys is
// cachePct percent (Key's is 45): the kinds of Key, cache/ ones for
// cachePct of every 100 consecutive keys.
func MixedKey(i, cachePct int) string {
	local := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 18, 19}
	if i%100 < cachePct {
		return keyOfKind(i, 9+i/100%9)
	}
	return keyOfKind(i, local[i/100%len(local)])
}

// keyOfKind is the i-th key as a file of kind k (0 to 19, see Key).
func keyOfKind(i, k int) string {
	r := rand.New(rand.NewPCG(uint64(i), 0x6d6261636b7570))
	id := 109_000_000_000_000_000 + uint64(i)*7_919_311 + r.Uint64N(1_000_000)
	idp := fmt.Sprintf("%03d/%03d/%03d/%03d/%03d/%03d",
		id/1e15, id/1e12%1000, id/1e9%1000, id/1e6%1000, id/1e3%1000, id%1000)
	name := fmt.Sprintf("%016x", r.Uint64())
	switch {
	case k < 6:
		return fmt.Sprintf("media_attachments/files/%s/original/%s.png", idp, name)
	case k < 9:
		return fmt.Sprintf("media_attachments/files/%s/small/%s.png", idp, name)
	case k < 13:
		return fmt.Sprintf("cache/media_attachments/files/%s/original/%s.jpg", idp, name)
	case k < 15:
		return fmt.Sprintf("cache/media_attachments/files/%s/small/%s.jpg", idp, name)
	case k < 17:
		return fmt.Sprintf("cache/accounts/avatars/%s/original/%s.png", idp, name)
	case k < 18:
		return fmt.Sprintf("cache/accounts/headers/%s/original/%s.jpeg", idp, name)
	case k < 19:
		return fmt.Sprintf("accounts/avatars/%s/original/%s.png", idp, name)
	default:
		return fmt.Sprintf("custom_emojis/images/%s/original/%s.png", idp, name)
	}
}

// Body returns the i-th fixture object: 1 to 4 KiB of pseudo-random bytes.
func Body(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 0x626f6479))
	b := make([]byte, 1024+r.IntN(3*1024+1))
	for j := 0; j < len(b); j += 8 {
		v := r.Uint64()
		for k := 0; k < 8 && j+k < len(b); k++ {
			b[j+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// seed writes the fixture into a bucket directory of versitygw's posix
// backend: each object is a plain file with its MD5 ETag in the user.etag
// extended attribute, as versitygw's own PutObject leaves it. The bucket
// must have been created through the S3 API (its directory carries the
// bucket's own attributes).
func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	dir := fs.String("dir", "", "bucket directory")
	n := fs.Int("n", 100000, "objects")
	workers := fs.Int("workers", 8, "concurrent writers")
	cachePct := fs.Int("cache-pct", -1, "percent of cache/ keys (MixedKey); -1: Key's mix (45)")
	fs.Parse(args)
	if *dir == "" {
		return errors.New("-dir is required")
	}
	key := Key
	if *cachePct >= 0 {
		key = func(i int) string { return MixedKey(i, *cachePct) }
	}
	var next atomic.Int64
	var bytesOut atomic.Int64
	errc := make(chan error, *workers)
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= *n {
					return
				}
				if err := seedOne(*dir, key(i), i); err != nil {
					errc <- err
					return
				}
				bytesOut.Add(int64(len(Body(i))))
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	fmt.Printf("objects=%d bytes=%d\n", *n, bytesOut.Load())
	return nil
}

func seedOne(dir, key string, i int) error {
	body := Body(i)
	p := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, body, 0o644); err != nil {
		return err
	}
	sum := md5.Sum(body)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	if err := syscall.Setxattr(p, "user.etag", []byte(etag), 0); err != nil {
		return fmt.Errorf("setxattr %s: %w", p, err)
	}
	return nil
}

// mkbucket creates buckets through the S3 API (an existing one is fine).
func mkbucket(args []string) error {
	fs := flag.NewFlagSet("mkbucket", flag.ExitOnError)
	src := s3Flags(fs, "src-")
	fs.Parse(args)
	var n counter
	c, err := sourceClient(*src.endpoint, *src.region, *src.key, *src.secret, &n)
	if err != nil {
		return err
	}
	for _, b := range fs.Args() {
		err := c.MakeBucket(context.Background(), b, minio.MakeBucketOptions{Region: *src.region})
		if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			return fmt.Errorf("%s: %w", b, err)
		}
	}
	return nil
}

// --- counting -------------------------------------------------------------------

// counter counts the HTTP requests of one side, listings apart.
type counter struct{ list, other atomic.Int64 }

func (c *counter) note(r *http.Request) {
	q := r.URL.Query()
	// An S3 listing is a GET of the bucket itself ("/bucket" or "/bucket/").
	if r.Method == http.MethodGet && (q.Has("list-type") || strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0 && q.Has("prefix")) {
		c.list.Add(1)
		return
	}
	c.other.Add(1)
}

type countingTransport struct {
	next http.RoundTripper
	c    *counter
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.c.note(r)
	return t.next.RoundTrip(r)
}

// sourceClient is mediasync.NewSourceClient with a counter in front of the
// same transport settings.
func sourceClient(endpoint, region, key, secret string, c *counter) (*minio.Client, error) {
	tr := mediasync.SourceTransport(false)
	return minio.New(endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(key, secret, ""),
		Region:    region,
		Transport: countingTransport{next: tr, c: c},
	})
}

// countingProxy forwards to target (host:port) and counts. The Host header
// is left as the client signed it.
func countingProxy(target string, c *counter) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.Transport = &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, DisableCompression: true}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.note(r)
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// peakRSS is the process's VmHWM in KiB.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// --- one mirror run -----------------------------------------------------------

type endpointFlags struct {
	endpoint, region, key, secret, bucket *string
}

func s3Flags(fs *flag.FlagSet, prefix string) endpointFlags {
	return endpointFlags{
		endpoint: fs.String(prefix+"endpoint", "", prefix+" host:port"),
		region:   fs.String(prefix+"region", "us-east-1", prefix+" region"),
		key:      fs.String(prefix+"key", os.Getenv("BENCH_S3_KEY"), prefix+" access key id (default $BENCH_S3_KEY)"),
		secret:   fs.String(prefix+"secret", os.Getenv("BENCH_S3_SECRET"), prefix+" secret key (default $BENCH_S3_SECRET)"),
		bucket:   fs.String(prefix+"bucket", "", prefix+" bucket"),
	}
}

// b2Control reads the per-call request counts of a serve-b2 process.
func b2Control(addr string) (map[string]int64, error) {
	resp, err := http.Get("http://" + addr + "/counts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]int64{}
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

func mirror(args []string) error {
	fs := flag.NewFlagSet("mirror", flag.ExitOnError)
	src := s3Flags(fs, "src-")
	dstKind := fs.String("dst", "s3", "store: s3, b2 or local")
	dst := s3Flags(fs, "dst-")
	partSize := fs.Int64("part-size", 0, "s3 store part size (0: the store's default)")
	count := fs.Bool("count", false, "count the s3 store's requests through a proxy in this process")
	b2URL := fs.String("b2-url", "", "fake B2 API base")
	b2Key := fs.String("b2-key", "", "fake B2 key id")
	b2App := fs.String("b2-app", os.Getenv("BENCH_B2_APPKEY"), "fake B2 application key (default $BENCH_B2_APPKEY)")
	b2Bucket := fs.String("b2-bucket", "", "fake B2 bucket")
	b2Ctl := fs.String("b2-control", "", "serve-b2 control address, for request counts")
	localDir := fs.String("local", "", "local store directory")
	workers := fs.Int("workers", 0, "mediasync workers (0: its default)")
	dry := fs.Bool("dry-run", false, "plan only")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the Mirror call to this file")
	memprofile := fs.String("memprofile", "", "write a heap profile, taken at the peak of the live heap, to this file")
	memstats := fs.Bool("memstats", false, "print the peaks of the runtime's memory classes (mem_* fields)")
	sf := scenarioFlags(fs)
	fs.Parse(args)
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stopSignals()

	var srcN, dstN counter
	c, px, stopProxy, err := sf.sourceClient(src, &srcN)
	if err != nil {
		return err
	}
	defer stopProxy()
	var st storage.Store
	var b2Before map[string]int64
	switch *dstKind {
	case "s3":
		ep := *dst.endpoint
		if *count {
			addr, stop, err := countingProxy(ep, &dstN)
			if err != nil {
				return err
			}
			defer stop()
			ep = addr
		}
		st, err = s3.New(ctx, s3.Config{
			Endpoint: ep, DisableTLS: true, Region: *dst.region, Bucket: *dst.bucket,
			AccessKeyID: *dst.key, SecretAccessKey: *dst.secret, PartSize: *partSize,
		})
	case "b2":
		if *b2Ctl != "" {
			if b2Before, err = b2Control(*b2Ctl); err != nil {
				return err
			}
		}
		var bs *b2.Store
		bs, err = b2.New(ctx, b2.Config{KeyID: *b2Key, AppKey: *b2App, Bucket: *b2Bucket, APIBase: *b2URL})
		if bs != nil {
			defer bs.Close()
		}
		st = bs
	case "local":
		st, err = local.New(*localDir)
	default:
		err = fmt.Errorf("unknown store %q", *dstKind)
	}
	if err != nil {
		return err
	}

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	var mem *memSampler
	if *memstats || *memprofile != "" {
		mem = startMemSampler(*memprofile)
	}
	if err := sf.before(ctx, st); err != nil {
		return err
	}
	o := mediasync.Options{
		Source: mediasync.Source{Client: c, Bucket: *src.bucket},
		Store:  st, Prefix: "media/", Workers: *workers, DryRun: *dry,
	}
	sf.apply(&o)
	start := time.Now()
	res, err := mediasync.Mirror(ctx, o)
	wall := time.Since(start)
	memLine := ""
	if mem != nil {
		memLine = mem.stop()
	}
	interrupted := err != nil && ctx.Err() != nil && *sf.stopAfter > 0
	if err != nil && !interrupted {
		return fmt.Errorf("%w (counts %+v)", err, res.Counts)
	}
	extra, err := sf.after(context.Background(), src, st, res, px, interrupted)
	if err != nil {
		return err
	}
	memLine += extra
	sl, so := srcN.list.Load(), srcN.other.Load()
	if px != nil {
		sl, so = px.c.list.Load(), px.c.other.Load()
	}
	dl, do := dstN.list.Load(), dstN.other.Load()
	switch {
	case *dstKind == "b2" && b2Before != nil:
		after, err := b2Control(*b2Ctl)
		if err != nil {
			return err
		}
		dl, do = 0, 0
		for m, n := range after {
			d := n - b2Before[m]
			if m == "b2_list_file_names" {
				dl += d
			} else {
				do += d
			}
		}
	case *dstKind == "s3" && !*count, *dstKind == "local":
		dl, do = -1, -1
	}
	fmt.Printf("wall=%.3f listed=%d copied=%d unchanged=%d adopted=%d skipped=%d failed=%d excluded=%d deleted=%d src_list=%d src_other=%d dst_list=%d dst_other=%d rss_kib=%d%s\n",
		wall.Seconds(), res.Listed, res.Copied, res.Unchanged, res.Adopted, res.Skipped, res.Failed, res.Excluded, res.Deleted,
		sl, so, dl, do, peakRSS(), memLine)
	return nil
}

// list is the floor: ListObjectsV2 pages of 1000 over the whole source.
func list(args []string) error {
	fs := flag.NewFlagSet("list", flag.ExitOnError)
	src := s3Flags(fs, "src-")
	fs.Parse(args)
	var n counter
	c, err := sourceClient(*src.endpoint, *src.region, *src.key, *src.secret, &n)
	if err != nil {
		return err
	}
	start := time.Now()
	objects, size := 0, int64(0)
	for oi := range c.ListObjectsIter(context.Background(), *src.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			return oi.Err
		}
		objects++
		size += oi.Size
	}
	fmt.Printf("wall=%.3f objects=%d bytes=%d src_list=%d src_other=%d rss_kib=%d\n",
		time.Since(start).Seconds(), objects, size, n.list.Load(), n.other.Load(), peakRSS())
	return nil
}

// parts times, one after the other, what a no-op run into the s3 store
// does: list the source, list the store, read the index, write it again.
func parts(args []string) error {
	fs := flag.NewFlagSet("parts", flag.ExitOnError)
	src := s3Flags(fs, "src-")
	dst := s3Flags(fs, "dst-")
	fs.Parse(args)
	ctx := context.Background()
	var n counter
	c, err := sourceClient(*src.endpoint, *src.region, *src.key, *src.secret, &n)
	if err != nil {
		return err
	}
	st, err := s3.New(ctx, s3.Config{Endpoint: *dst.endpoint, DisableTLS: true, Region: *dst.region,
		Bucket: *dst.bucket, AccessKeyID: *dst.key, SecretAccessKey: *dst.secret})
	if err != nil {
		return err
	}
	t := time.Now()
	ns := 0
	for oi := range c.ListObjectsIter(ctx, *src.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			return oi.Err
		}
		ns++
	}
	srcList := time.Since(t)

	t = time.Now()
	nd := 0
	if err := st.List(ctx, "media/", func(storage.Object) error { nd++; return nil }); err != nil {
		return err
	}
	dstList := time.Since(t)

	key := mediasync.IndexKey("media/")
	t = time.Now()
	rc, err := st.Get(ctx, key)
	if err != nil {
		return err
	}
	idx, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return err
	}
	idxGet := time.Since(t)

	// Rewritten under another key, so the mirror's own index stays as it is.
	t = time.Now()
	if _, err := st.Put(ctx, "bench-index-copy.zst", bytes.NewReader(idx)); err != nil {
		return err
	}
	idxPut := time.Since(t)
	_ = st.Delete(ctx, "bench-index-copy.zst")

	fmt.Printf("src_list=%.3f src_objects=%d dst_list=%.3f dst_objects=%d index_get=%.3f index_put=%.3f index_bytes=%d\n",
		srcList.Seconds(), ns, dstList.Seconds(), nd, idxGet.Seconds(), idxPut.Seconds(), len(idx))
	return nil
}

// --- servers --------------------------------------------------------------------

// tb is the testing.TB that b2test.New needs in a program: Helper does
// nothing and Cleanup functions run when the server process ends. Any
// other method is never called by b2test.New.
type tb struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (t *tb) Helper()           {}
func (t *tb) Cleanup(fn func()) { t.mu.Lock(); t.cleanups = append(t.cleanups, fn); t.mu.Unlock() }
func (t *tb) runCleanups() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// waitSignal blocks until SIGINT or SIGTERM.
func waitSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	<-ch
}

// serveB2 runs a fake B2 with one bucket and prints its coordinates; GET
// /counts on the control address answers the number of requests per call.
func serveB2(args []string) error {
	fs := flag.NewFlagSet("serve-b2", flag.ExitOnError)
	bucket := fs.String("bucket", "mirror", "bucket to create")
	fs.Parse(args)
	t := &tb{}
	defer t.runCleanups()
	srv := b2test.New(t)
	srv.CreateBucket(*bucket)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := map[string]int64{}
		for _, req := range srv.Requests() {
			m[req.Method]++
		}
		json.NewEncoder(w).Encode(m)
	})}
	go ctl.Serve(ln)
	defer ctl.Close()
	fmt.Printf("url=%s key=%s app=%s control=%s\n", srv.URL, srv.KeyID, srv.AppKey, ln.Addr())
	os.Stdout.Sync()
	waitSignal()
	return nil
}

// serveSynth answers ListObjectsV2 for n synthetic keys, 1000 a page,
// ascending (the keys are numbered, so the order is that of the numbers),
// without checking signatures. It serves nothing else.
func serveSynth(args []string) error {
	fs := flag.NewFlagSet("serve-synth", flag.ExitOnError)
	n := fs.Int("n", 1_000_000, "objects")
	fs.Parse(args)
	key := func(i int) string {
		return fmt.Sprintf("media_attachments/files/%03d/%03d/%03d/original/%016x.png", i/1000000, i/1000%1000, i%1000, uint64(i)*0x9e3779b97f4a7c15)
	}
	var lists atomic.Int64
	h := func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method != http.MethodGet || q.Get("list-type") != "2" {
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		lists.Add(1)
		start, _ := strconv.Atoi(q.Get("continuation-token"))
		end := min(start+1000, *n)
		var b bytes.Buffer
		b.Grow(256 * 1024)
		fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>synth</Name><Prefix></Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys>`, end-start)
		if end < *n {
			fmt.Fprintf(&b, `<IsTruncated>true</IsTruncated><NextContinuationToken>%d</NextContinuationToken>`, end)
		} else {
			b.WriteString(`<IsTruncated>false</IsTruncated>`)
		}
		for i := start; i < end; i++ {
			b.WriteString("<Contents><Key>")
			xml.EscapeText(&b, []byte(key(i)))
			sum := md5.Sum([]byte(strconv.Itoa(i)))
			fmt.Fprintf(&b, `</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"%x"</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>`, sum, 1024+i%3072)
		}
		b.WriteString("</ListBucketResult>")
		w.Header().Set("Content-Type", "application/xml")
		w.Write(b.Bytes())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(h)}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Printf("endpoint=%s\n", ln.Addr())
	os.Stdout.Sync()
	waitSignal()
	fmt.Fprintf(os.Stderr, "serve-synth: %d list requests\n", lists.Load())
	return nil
}
