package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"14d", 14 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"36h", 36 * time.Hour, true},
		{"2m", 2 * time.Minute, true},
		{"90s", 90 * time.Second, true},
		{"0", 0, true},
		{"0d", 0, true},
		{"2w", 14 * 24 * time.Hour, true},
		{"1y", 365 * 24 * time.Hour, true},
		{"1y2w3d", (365 + 14 + 3) * 24 * time.Hour, true},
		{"1w12h", (7*24 + 12) * time.Hour, true},
		{"w", 0, false},
		{"99999y", 0, false},
		{"70000d", 0, false},
		{"", 0, false},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"-1h", 0, false},
		{"1d-1h", 0, false},
		{"120", 0, false},
		{"2 weeks", 0, false},
	} {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got.Std() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got.Std(), err, tt.want, tt.ok)
		}
	}
	if s := Duration(14 * 24 * time.Hour).String(); s != "14d" {
		t.Errorf("String() = %q", s)
	}
}

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Size
		ok   bool
	}{
		{"16MiB", 16 << 20, true},
		{"100MB", 100e6, true},
		{"5000000", 5e6, true},
		{"1.5GiB", 3 << 29, true},
		{"512 KiB", 512 << 10, true},
		{"16mib", 16 << 20, true},
		{"10B", 10, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"16M", 0, false},
		{"-5MB", 0, false},
		{"1e30GB", 0, false},
	} {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if s := Size(16 << 20).String(); s != "16MiB" {
		t.Errorf("String() = %q", s)
	}
}

func TestDeleteLimit(t *testing.T) {
	for _, tt := range []struct {
		in    string
		total int64
		max   int64
		ok    bool
	}{
		{"5%", 1000, 50, true},
		{"0.5%", 1000, 5, true},
		{"100%", 7, 7, true},
		{"1000", 10, 1000, true},
		{"0", 10, 0, true},
		{"0%", 0, 0, false},
		{"101%", 0, 0, false},
		{"-1", 0, 0, false},
		{"5 percent", 0, 0, false},
	} {
		l, err := ParseDeleteLimit(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseDeleteLimit(%q): %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (l.Max(tt.total) != tt.max || l.String() != tt.in) {
			t.Errorf("ParseDeleteLimit(%q).Max(%d) = %d, String %q; want %d", tt.in, tt.total, l.Max(tt.total), l, tt.max)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, tt := range []struct {
		in, host string
		secure   bool
		ok       bool
	}{
		{"nyc3.digitaloceanspaces.com", "nyc3.digitaloceanspaces.com", true, true},
		{"https://s3.example.com/", "s3.example.com", true, true},
		{"http://127.0.0.1:7070", "127.0.0.1:7070", false, true},
		{"ftp://x", "", false, false},
		{"https://s3.example.com/bucket", "", false, false},
		{"", "", false, false},
	} {
		host, secure, err := ParseEndpoint(tt.in)
		if (err == nil) != tt.ok || host != tt.host || secure != tt.secure {
			t.Errorf("ParseEndpoint(%q) = %q, %v, %v", tt.in, host, secure, err)
		}
	}
}
