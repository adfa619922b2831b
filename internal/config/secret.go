package config

import (
	"fmt"
	"log/slog"

	"github.com/goccy/go-yaml/ast"

	"mbackup/internal/redact"
)

const (
	redacted = redact.Mark
	unset    = "[unset]"
)

// Secret is a password, key or token. It prints as "[redacted]" ("[unset]"
// when empty) through fmt with any verb, encoding/json, encoding.TextMarshaler
// and log/slog; [Secret.Reveal] is the only way to read it.
//
// The value sits behind a pointer so that even fmt printing a struct that
// holds a Secret in an unexported field, where fmt cannot call methods,
// shows an address rather than the value.
type Secret struct {
	p *string
}

// NewSecret returns a Secret holding s; an empty s gives an unset Secret.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{p: &s}
}

// Reveal returns the secret value, "" when unset. Call it only where the
// value is handed to the program that needs it.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsSet reports whether the secret holds a non-empty value.
func (s Secret) IsSet() bool { return s.p != nil }

func (s Secret) marker() string {
	if s.p == nil {
		return unset
	}
	return redacted
}

// String returns "[redacted]", or "[unset]" when the secret is empty.
func (s Secret) String() string { return s.marker() }

// GoString returns "[redacted]", or "[unset]", for %#v.
func (s Secret) GoString() string { return s.marker() }

// Format writes "[redacted]", or "[unset]", whatever the verb, so that
// neither %d nor %x can show the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.marker())) }

// MarshalText returns "[redacted]", or "[unset]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.marker()), nil }

// MarshalJSON returns the JSON string "[redacted]", or "[unset]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.marker() + `"`), nil }

// LogValue makes log/slog print "[redacted]", or "[unset]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.marker()) }

// UnmarshalYAML decodes a scalar. Numbers and booleans keep the text as
// written (a password 0123 stays "0123"); null leaves the secret unset.
func (s *Secret) UnmarshalYAML(node ast.Node) error {
	v, ok := scalarText(node)
	if !ok {
		return nodeError(node, "must be a string")
	}
	*s = NewSecret(v)
	return nil
}

// scalarText returns the text of a scalar node as written, after ${NAME}
// expansion for strings; ok is false for mappings and sequences.
func scalarText(node ast.Node) (string, bool) {
	switch n := unwrap(node).(type) {
	case nil, *ast.NullNode:
		return "", true
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		return n.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// unwrap looks through anchors and tags to the value node.
func unwrap(node ast.Node) ast.Node {
	for {
		switch n := node.(type) {
		case *ast.AnchorNode:
			node = n.Value
		case *ast.TagNode:
			node = n.Value
		default:
			return node
		}
	}
}
