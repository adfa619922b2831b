package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

// memClasses are the runtime/metrics memory classes whose peaks a
// memSampler reports, by the short name it prints them under.
var memClasses = []struct{ short, name string }{
	{"heap_live", "/memory/classes/heap/objects:bytes"},
	{"heap_free", "/memory/classes/heap/free:bytes"},
	{"heap_released", "/memory/classes/heap/released:bytes"},
	{"heap_unused", "/memory/classes/heap/unused:bytes"},
	{"stacks", "/memory/classes/heap/stacks:bytes"},
	{"os_stacks", "/memory/classes/os-stacks:bytes"},
	{"metadata", "/memory/classes/metadata/other:bytes"},
	{"mspan", "/memory/classes/metadata/mspan/inuse:bytes"},
	{"mcache", "/memory/classes/metadata/mcache/inuse:bytes"},
	{"profiling", "/memory/classes/profiling/buckets:bytes"},
	{"other", "/memory/classes/other:bytes"},
	{"total", "/memory/classes/total:bytes"},
	{"goroutines", "/sched/goroutines:goroutines"},
	{"gc_cycles", "/gc/cycles/total:gc-cycles"},
}

// memSampler reads the memory classes every 5 ms and keeps each one's
// peak; with a profile path, it writes a heap profile each time the live
// heap passes its peak by 256 KiB (the last one written is the peak's).
type memSampler struct {
	done    chan struct{}
	wg      sync.WaitGroup
	peak    []uint64
	profile string
}

func startMemSampler(profile string) *memSampler {
	m := &memSampler{done: make(chan struct{}), peak: make([]uint64, len(memClasses)), profile: profile}
	samples := make([]metrics.Sample, len(memClasses))
	for i, c := range memClasses {
		samples[i].Name = c.name
	}
	if profile != "" {
		runtime.MemProfileRate = 4096
	}
	m.wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var profiled uint64
		for {
			metrics.Read(samples)
			for i, s := range samples {
				if s.Value.Kind() == metrics.KindUint64 {
					m.peak[i] = max(m.peak[i], s.Value.Uint64())
				}
			}
			if live := samples[0].Value.Uint64(); profile != "" && live > profiled+256<<10 {
				profiled = live
				m.writeProfile()
			}
			select {
			case <-m.done:
				return
			case <-t.C:
			}
		}
	})
	return m
}

func (m *memSampler) writeProfile() {
	f, err := os.Create(m.profile)
	if err != nil {
		return
	}
	defer f.Close()
	// inuse_space as of the last GC, plus the allocations since (debug 0
	// writes both; pprof -sample_index=alloc_space shows the latter).
	pprof.Lookup("heap").WriteTo(f, 0)
}

// stop ends the sampling and returns " mem_<class>_kib=N ..." for the line
// of results.
func (m *memSampler) stop() string {
	close(m.done)
	m.wg.Wait()
	var b strings.Builder
	for i, c := range memClasses {
		v := m.peak[i]
		if strings.HasSuffix(c.name, ":bytes") {
			v /= 1024
			fmt.Fprintf(&b, " mem_%s_kib=%d", c.short, v)
		} else {
			fmt.Fprintf(&b, " mem_%s=%d", c.short, v)
		}
	}
	return b.String()
}
