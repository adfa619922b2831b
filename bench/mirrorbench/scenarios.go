package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/mediasync"
	"mbackup/internal/storage"
)

// sourceProxy stands in front of the source: it counts and timestamps
// every request, and answers a share of the object GETs with 429 Too Many
// Requests and a Retry-After, as B2 and Spaces do when a client is over
// their limit.
type sourceProxy struct {
	c          counter
	faultPct   float64 // percent of object GETs answered 429
	retryAfter string

	mu     sync.Mutex
	times  []time.Time // arrival of every request
	faults int
	rnd    *rand.Rand
}

// start serves the proxy to target (host:port) on a loopback port.
func (p *sourceProxy) start(target string) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	p.rnd = rand.New(rand.NewPCG(1, 429))
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.Transport = &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, DisableCompression: true}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.c.note(r)
		if p.arrive(r) {
			w.Header().Set("Retry-After", p.retryAfter)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `<Error><Code>SlowDown</Code><Message>slow down</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// arrive records r and says whether to answer it 429.
func (p *sourceProxy) arrive(r *http.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.times = append(p.times, time.Now())
	objectGet := r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0
	if objectGet && p.rnd.Float64()*100 < p.faultPct {
		p.faults++
		return true
	}
	return false
}

// rates returns the most requests that arrived in any one-second window
// and the mean rate from the first request to the last.
func (p *sourceProxy) rates() (max1s int, mean float64) {
	p.mu.Lock()
	ts := slices.Clone(p.times)
	p.mu.Unlock()
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	j := 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= time.Second {
			j++
		}
		max1s = max(max1s, i-j+1)
	}
	if len(ts) > 1 {
		mean = float64(len(ts)-1) / ts[len(ts)-1].Sub(ts[0]).Seconds()
	}
	return max1s, mean
}

// verify lists the source (through c, which may be limited) and the store
// and returns how many source objects not under an excluded prefix are
// missing from the store under prefix, or there with another size, and
// how many objects the store has under prefix.
func verify(ctx context.Context, c *minio.Client, bucket string, st storage.Store, prefix string, exclude []string) (lost, stored int64, err error) {
	have := map[string]int64{}
	err = st.List(ctx, prefix, func(o storage.Object) error {
		have[strings.TrimPrefix(o.Key, prefix)] = o.Size
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("list store: %w", err)
	}
	noOwner := false
	for oi := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, FetchOwner: &noOwner}) {
		if oi.Err != nil {
			return 0, 0, fmt.Errorf("list source: %w", oi.Err)
		}
		if slices.ContainsFunc(exclude, func(p string) bool { return strings.HasPrefix(oi.Key, p) }) {
			continue
		}
		if size, ok := have[oi.Key]; !ok || size != oi.Size {
			lost++
		}
	}
	return lost, int64(len(have)), nil
}

// estimate is the time `mbackup mirror --dry-run` prints for copying
// copied objects listed from listed at rps requests per second (the same
// formula as cmd/mbackup's mirrorEstimate: a GET per copy and a listing
// request per 1,000 objects, the storage side in parallel at the same
// rate).
func estimate(listed, copied int64, rps float64) time.Duration {
	reqs := copied + (listed+999)/1000
	return time.Duration(float64(reqs) / rps * float64(time.Second))
}

// scenario holds the mirror subcommand's flags for the scenarios of
// bench/mirror.sh: a request limit, 429s from the source, an exclude, an
// interruption, and the checks after the run.
type scenario struct {
	rps, faultPct, estimateRPS *float64
	proxy, del, verify         *bool
	retryAfter, exclude        *string
	putKey, hasKey             *string
	maxDelete, stopAfter       *int64
	limiter                    *mediasync.Limiter
	stopOnce                   sync.Once
}

func scenarioFlags(fs *flag.FlagSet) *scenario {
	return &scenario{
		rps:         fs.Float64("rps", 0, "media.max_requests_per_second: a limit on the source and one on the store (0: none)"),
		proxy:       fs.Bool("src-proxy", false, "send the source's requests through a counting proxy in this process (src_max_1s, src_mean_rps); implied by -rps and -fault-429"),
		faultPct:    fs.Float64("fault-429", 0, "percent of the source's object GETs the proxy answers 429"),
		retryAfter:  fs.String("retry-after", "2", "the Retry-After of those 429s"),
		exclude:     fs.String("exclude", "", "media.exclude: comma-separated key prefixes"),
		del:         fs.Bool("delete", false, "media.delete"),
		maxDelete:   fs.Int64("max-delete", 0, "media.max_delete, a count"),
		putKey:      fs.String("put-store", "", "put a 1-byte object under this store key before the run"),
		hasKey:      fs.String("has-store", "", "after the run, print has_key=1 when the store has this key, else 0"),
		stopAfter:   fs.Int64("stop-after", 0, "send this process SIGTERM once this many objects are copied; the run ends as interrupted (interrupted=1), not as a failure"),
		verify:      fs.Bool("verify", false, "after the run, list both sides: lost= source objects (not excluded) missing from the store or of another size, dst_objects="),
		estimateRPS: fs.Float64("estimate-rps", 0, "print the --dry-run estimate of mbackup mirror at this rate (est_s=)"),
	}
}

// excludes is the list of -exclude.
func (sc *scenario) excludes() []string {
	if *sc.exclude == "" {
		return nil
	}
	return strings.Split(*sc.exclude, ",")
}

// sourceClient is the source's client: with a limit or faults, a limited
// client (as mbackup builds it) through a sourceProxy, which counts into
// the proxy's counter; otherwise a client counting into n.
func (sc *scenario) sourceClient(src endpointFlags, n *counter) (*minio.Client, *sourceProxy, func(), error) {
	sc.limiter = mediasync.NewLimiter(*sc.rps)
	if !*sc.proxy && *sc.faultPct == 0 && sc.limiter == nil {
		c, err := sourceClient(*src.endpoint, *src.region, *src.key, *src.secret, n)
		return c, nil, func() {}, err
	}
	px := &sourceProxy{faultPct: *sc.faultPct, retryAfter: *sc.retryAfter}
	addr, stop, err := px.start(*src.endpoint)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := mediasync.NewLimitedSourceClient(addr, false, *src.region, *src.key, *src.secret, sc.limiter)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return c, px, stop, nil
}

// before puts -put-store's object.
func (sc *scenario) before(ctx context.Context, st storage.Store) error {
	if *sc.putKey == "" {
		return nil
	}
	if _, err := st.Put(ctx, *sc.putKey, strings.NewReader("x")); err != nil {
		return fmt.Errorf("put %s: %w", *sc.putKey, err)
	}
	return nil
}

// apply sets the options the flags give.
func (sc *scenario) apply(o *mediasync.Options) {
	o.Exclude = sc.excludes()
	o.Delete, o.MaxDelete = *sc.del, *sc.maxDelete
	o.StoreLimiter = mediasync.NewLimiter(*sc.rps)
	o.SourceLimiter = sc.limiter
	if *sc.stopAfter > 0 {
		o.Progress = func(c mediasync.Counts) {
			if c.Copied >= *sc.stopAfter {
				sc.stopOnce.Do(func() { syscall.Kill(os.Getpid(), syscall.SIGTERM) })
			}
		}
	}
}

// after runs the checks and returns their " key=value" fields.
func (sc *scenario) after(ctx context.Context, src endpointFlags, st storage.Store, res mediasync.Result, px *sourceProxy, interrupted bool) (string, error) {
	var b strings.Builder
	if interrupted {
		b.WriteString(" interrupted=1")
	}
	if px != nil {
		max1s, mean := px.rates()
		fmt.Fprintf(&b, " src_max_1s=%d src_mean_rps=%.1f src_429=%d", max1s, mean, px.faults)
		if sc.limiter != nil {
			t := res.SourceThrottling
			fmt.Fprintf(&b, " burst=%d pauses=%d throttles=%d lowest_rps=%.1f", sc.limiter.Burst(), t.Pauses, t.Throttles, t.Lowest)
		}
	}
	if *sc.hasKey != "" {
		has := 1
		if _, err := st.Stat(ctx, *sc.hasKey); errors.Is(err, fs.ErrNotExist) {
			has = 0
		} else if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, " has_key=%d", has)
	}
	if *sc.verify {
		var n counter
		c, err := sourceClient(*src.endpoint, *src.region, *src.key, *src.secret, &n)
		if err != nil {
			return "", err
		}
		lost, stored, err := verify(ctx, c, *src.bucket, st, "media/", sc.excludes())
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, " lost=%d dst_objects=%d", lost, stored)
	}
	if *sc.estimateRPS > 0 {
		fmt.Fprintf(&b, " est_s=%.0f", estimate(res.Listed, res.Copied, *sc.estimateRPS).Seconds())
	}
	return b.String(), nil
}
