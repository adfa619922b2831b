package config

import (
	"errors"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// DefaultShrinkThreshold is retention.shrink_threshold's default, in
// percent.
const DefaultShrinkThreshold = 50

// Threshold is retention.shrink_threshold: the share, in percent, of an
// artifact's size in the previous complete snapshot below which it is
// flagged as shrunk. 0 turns the guard off. Valid values are 0 and 1 to
// 99; Validate checks the range.
type Threshold int

// ParseThreshold parses "50%", "50", "off" or "0".
func ParseThreshold(s string) (Threshold, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil {
		return 0, errors.New(`must be a percentage like 50% (1% to 99%), or "off"`)
	}
	return Threshold(n), nil
}

// String formats t as ParseThreshold accepts it.
func (t Threshold) String() string {
	if t == 0 {
		return "off"
	}
	return strconv.Itoa(int(t)) + "%"
}

// UnmarshalYAML decodes a percentage or "off".
func (t *Threshold) UnmarshalYAML(node ast.Node) error {
	s, ok := scalarText(node)
	if !ok {
		return nodeError(node, `must be a percentage like 50%% (1%% to 99%%), or "off"`)
	}
	v, err := ParseThreshold(s)
	if err != nil {
		return nodeError(node, "%v", err)
	}
	*t = v
	return nil
}
