package config

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// expandEnv replaces ${NAME} in every string value below body, in place.
// Keys are left alone, and comments are not in the tree at all.
func (s *source) expandEnv(body ast.Node, lookupEnv func(string) (string, bool)) []*Problem {
	var probs []*Problem
	walk(body, "", func(n ast.Node, path string, isKey bool) {
		if isKey {
			return
		}
		var str *ast.StringNode
		switch v := unwrap(n).(type) {
		case *ast.StringNode:
			str = v
		case *ast.LiteralNode:
			str = v.Value
		default:
			return
		}
		if strings.Contains(str.Value, "${") {
			s.expanded[path] = true
		}
		out, err := expand(str.Value, lookupEnv)
		if err != nil {
			p := s.problem(path, "%v", err)
			p.Line = n.GetToken().Position.Line
			probs = append(probs, p)
			return
		}
		str.Value = out
	})
	return probs
}

// expand replaces each ${NAME} in v by the variable's value and each "$$"
// by "$"; any other "$" stays. Errors name the variable, never v.
func expand(v string, lookupEnv func(string) (string, bool)) (string, error) {
	if !strings.Contains(v, "$") {
		return v, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(v, '$')
		if i < 0 || i == len(v)-1 {
			b.WriteString(v)
			return b.String(), nil
		}
		b.WriteString(v[:i])
		switch v[i+1] {
		case '$':
			b.WriteByte('$')
			v = v[i+2:]
		case '{':
			end := strings.IndexByte(v[i:], '}')
			name := ""
			if end > 0 {
				name = v[i+2 : i+end]
			}
			if !validEnvName(name) {
				return "", fmt.Errorf("bad variable reference: write ${NAME}, or $$ for a literal $")
			}
			val, ok := lookupEnv(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(val)
			v = v[i+end+1:]
		default:
			b.WriteByte('$')
			v = v[i+1:]
		}
	}
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
