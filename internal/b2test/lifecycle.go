package b2test

import (
	"encoding/json"
	"strings"
	"time"
)

// ApplyLifecycle runs the buckets' lifecycle rules at the server's clock
// (SetNow), as B2 does once a day: daysFromUploadingToHiding hides a name
// whose newest version is an upload that old; daysFromHidingToDeleting
// deletes a version that many days after it was hidden (superseded by a
// newer version or a hide marker), and a hide marker left alone that old.
// A version under retention is never deleted. It returns how many versions
// it hid and deleted.
func (s *Server) ApplyLifecycle() (hidden, deleted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, b := range s.buckets {
		var rules []LifecycleRule
		if json.Unmarshal(b.rules, &rules) != nil {
			continue
		}
		for _, r := range rules {
			h, d := s.applyRule(b, r, now)
			hidden += h
			deleted += d
		}
	}
	return hidden, deleted
}

// applyRule applies one rule to b's names under its prefix; s.mu is held.
func (s *Server) applyRule(b *bucket, r LifecycleRule, now time.Time) (hidden, deleted int) {
	byName := map[string][]*file{} // newest first
	var names []string
	for _, f := range s.versions(b) {
		if f.action == "start" || !strings.HasPrefix(f.name, r.Prefix) {
			continue
		}
		if byName[f.name] == nil {
			names = append(names, f.name)
		}
		byName[f.name] = append(byName[f.name], f)
	}
	days := func(n *int) time.Duration { return time.Duration(*n) * 24 * time.Hour }
	for _, name := range names {
		vs := byName[name]
		if n := r.DaysFromUploadingToHiding; n != nil && vs[0].action == "upload" && !now.Before(vs[0].uploaded.Add(days(n))) {
			hide := s.newFile(b, name, "hide")
			hide.uploaded = vs[0].uploaded.Add(days(n))
			vs = append([]*file{hide}, vs...)
			hidden++
		}
		n := r.DaysFromHidingToDeleting
		if n == nil {
			continue
		}
		kept := 0
		for i := 1; i < len(vs); i++ {
			if now.Before(vs[i-1].uploaded.Add(days(n))) || vs[i].locked(now) {
				kept++
				continue
			}
			delete(s.files, vs[i].id)
			deleted++
		}
		if kept == 0 && vs[0].action == "hide" && !now.Before(vs[0].uploaded.Add(days(n))) {
			delete(s.files, vs[0].id)
			deleted++
		}
	}
	return hidden, deleted
}
