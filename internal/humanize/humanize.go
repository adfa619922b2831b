// Package humanize formats quantities for people.
//
// Invariant: one format for a byte count everywhere it is shown (the
// command's output, restore progress, Slack messages): binary units with
// one decimal, "1023 B", "1.0 KiB", "1.5 GiB", up to "8.0 EiB".
package humanize

import "fmt"

// Bytes formats n in binary units: "512 B", "1.5 KiB", "3.2 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
