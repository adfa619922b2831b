package config

import (
	"bytes"
	"fmt"
)

// Limits checked on the raw bytes of a configuration before the YAML
// parser sees them. A configuration is a page of settings (the example is
// 4 KiB, 3 levels deep); these bounds are far above any real one and keep a
// hostile or broken file (a YAML nested 100,000 levels deep, an alias bomb,
// /dev/zero given as --config) from taking seconds of CPU and gigabytes of
// memory, in the daemon's SIGHUP reload as much as at start. The parser
// needs about 0.4 s and 100 MiB for the worst file within them (256 KiB of
// 30-deep flow sequences); at 1 MiB and 64 levels it needed 3.4 s and
// 860 MiB, hence the smaller bounds.
const (
	// MaxFileSize is the largest configuration file accepted.
	MaxFileSize = 256 << 10
	// MaxDepth is the deepest nesting of mappings and sequences accepted.
	MaxDepth = 32
)

// checkShape refuses data larger than MaxFileSize, nested deeper than
// MaxDepth, or using YAML anchors and aliases, with the line where it
// happens. It runs in one pass, in time linear in len(data), and is
// conservative: it counts a bracket or a block level even in places where
// the YAML parser would not, never fewer.
func checkShape(file string, data []byte) error {
	if len(data) > MaxFileSize {
		return &Problem{File: file, Message: fmt.Sprintf("larger than %d bytes, the most a configuration may have: is it the right file?", MaxFileSize)}
	}
	var indents []int // indentation of the open block levels
	flow := 0         // open [ and { of flow collections
	for n, line := range bytes.Split(data, []byte("\n")) {
		lineNo := n + 1
		if flow == 0 {
			body := bytes.TrimLeft(line, " ")
			if len(body) == 0 || body[0] == '#' {
				continue
			}
			indent := len(line) - len(body)
			for len(indents) > 0 && indents[len(indents)-1] >= indent {
				indents = indents[:len(indents)-1]
			}
			indents = append(indents, indent)
			// "- - - x" opens a sequence per dash on one line.
			for bytes.HasPrefix(body, []byte("- ")) || bytes.Equal(body, []byte("-")) {
				indents = append(indents, indent+1)
				body = bytes.TrimLeft(body[1:], " ")
				indent = len(line) - len(body)
			}
			if len(indents) > MaxDepth {
				return depthProblem(file, lineNo)
			}
		}
		var err error
		if flow, err = scanLine(file, lineNo, line, flow, len(indents)); err != nil {
			return err
		}
	}
	return nil
}

// scanLine follows the flow brackets of one line outside quotes and
// comments, refusing anchors and aliases, and returns the flow depth at
// its end.
func scanLine(file string, lineNo int, line []byte, flow, block int) (int, error) {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case (c == '"' || c == '\'') && tokenStart(line, i):
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return flow, nil
		case c == '[' || c == '{':
			flow++
			if flow+block > MaxDepth {
				return flow, depthProblem(file, lineNo)
			}
		case c == ']' || c == '}':
			if flow > 0 {
				flow--
			}
		case (c == '&' || c == '*') && tokenStart(line, i) && i+1 < len(line) && line[i+1] != ' ':
			return flow, &Problem{File: file, Line: lineNo, Message: "YAML anchors and aliases (&name, *name) are not supported in a configuration: write the value out"}
		}
	}
	return flow, nil
}

// tokenStart reports whether line[i] may begin a YAML node: the first
// thing on the line, or after "key:", "-", "?" or a flow "[", "{", ",".
func tokenStart(line []byte, i int) bool {
	j := i - 1
	for j >= 0 && (line[j] == ' ' || line[j] == '\t') {
		j--
	}
	if j < 0 {
		return true
	}
	switch line[j] {
	case ':', '-', '?', '[', '{', ',':
		return j < i-1 || line[j] != ':' && line[j] != '-'
	}
	return false
}

func depthProblem(file string, line int) error {
	return &Problem{File: file, Line: line, Message: fmt.Sprintf("nested more than %d levels deep: not a configuration", MaxDepth)}
}
