package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"mbackup/internal/redact"
)

// Problem is one thing wrong with a configuration. Its Error is
// "FILE:LINE: PATH: MESSAGE", such as
//
//	mbackup.yaml:14: postgres.databases[1]: duplicate database "mastodon"
//
// where FILE is the base name of the configuration file, LINE the line of
// the offending key or value and PATH its YAML path. Without a line (the
// key is missing from a section at the top of the file) it is
// "FILE: PATH: MESSAGE"; for a Config built in code, without a file, it is
// "config: PATH: MESSAGE".
type Problem struct {
	File    string // base name of the configuration file; "" for a Config built in code
	Line    int    // 1-based line; 0 when unknown
	Path    string // YAML path, such as "redis[0].url"; "" for the whole file
	Message string // what is wrong; never a secret value
}

// Error formats the problem as described on [Problem].
func (p *Problem) Error() string { return formatPos(p.File, p.Line, p.Path, p.Message) }

// Warning is something Load accepted but the admin should fix, such as a
// secret file that every user may read. String formats it like [Problem].
type Warning struct {
	File    string // base name of the configuration file
	Line    int    // 1-based line; 0 when unknown
	Path    string // YAML path
	Message string // what to fix; never a secret value
}

// String formats the warning as "FILE:LINE: PATH: MESSAGE".
func (w Warning) String() string { return formatPos(w.File, w.Line, w.Path, w.Message) }

func formatPos(file string, line int, path, msg string) string {
	var b strings.Builder
	switch {
	case file == "":
		b.WriteString("config")
	case line > 0:
		b.WriteString(file + ":" + strconv.Itoa(line))
	default:
		b.WriteString(file)
	}
	// A path or message may echo what the admin wrote where a key was
	// expected, such as "url:redis://:pass@host" without its space: no URL
	// password survives into the error.
	if path != "" {
		b.WriteString(": " + redact.Patterns(path, redacted))
	}
	return b.String() + ": " + redact.Patterns(msg, redacted)
}

// Load reads the configuration file at path, expands ${NAME} references
// from the environment, decodes it strictly over the defaults, reads the
// *_file secrets and the recipients file, and validates the result.
//
// The error is either "config: ..." (the file cannot be read) or one or
// more [Problem] values joined with errors.Join. The warnings are returned
// also when the error is not nil.
func Load(path string) (*Config, []Warning, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return load(path, data, os.LookupEnv, fi.Mode().Perm()&0o004 != 0)
}

// Parse is Load for a configuration already read into data; path names it
// in messages and anchors relative paths. lookupEnv resolves ${NAME}
// (os.LookupEnv in Load).
func Parse(path string, data []byte, lookupEnv func(string) (string, bool)) (*Config, []Warning, error) {
	return load(path, data, lookupEnv, false)
}

// load does the work of Load; worldReadable says whether every user may
// read the file, which makes a secret written in it a warning.
func load(path string, data []byte, lookupEnv func(string) (string, bool), worldReadable bool) (*Config, []Warning, error) {
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	src := &source{
		file:     filepath.Base(path),
		dir:      dir,
		lines:    map[string]int{},
		tokens:   map[*token.Token]string{},
		expanded: map[string]bool{},
	}
	if err := checkShape(src.file, data); err != nil {
		return nil, nil, err
	}
	body, err := src.parse(data)
	if err != nil {
		return nil, nil, err
	}
	if probs := src.expandEnv(body, lookupEnv); len(probs) > 0 {
		return nil, nil, joinProblems(probs)
	}
	c := decodeBase()
	if body != nil {
		if err := src.decode(body, c); err != nil {
			return nil, nil, err
		}
	}
	c.src = src
	c.finishDefaults()
	r := resolver{src: src}
	r.dayDurations(body)
	r.storagePath(c)
	r.secrets(c)
	r.recipients(c)
	r.signing(c)
	r.redisURLs(c)
	if worldReadable {
		r.inlineSecrets(c)
	}
	probs := r.problems
	if err := c.Validate(); err != nil {
		probs = append(probs, problemsOf(err)...)
	}
	if len(probs) > 0 {
		return nil, r.warnings, joinProblems(probs)
	}
	return c, r.warnings, nil
}

// finishDefaults drops the optional sections absent from the file and
// fills the defaults that depend on other settings.
func (c *Config) finishDefaults() {
	if !c.src.has("postgres") {
		c.Postgres = nil
	}
	if !c.src.has("mysql") {
		c.MySQL = nil
	}
	if !c.src.has("media") {
		c.Media = nil
	}
	if !c.src.has("notify") {
		c.Notify = nil
	} else if c.Notify != nil && !c.src.has("notify.slack") {
		c.Notify.Slack = nil
	}
	if c.Notify != nil && !c.src.has("notify.ping") {
		c.Notify.Ping = nil
	}
	if !c.src.has("drill") {
		c.Drill = nil
	}
	if c.Storage.Type == StorageLocal && c.Storage.Path == "" {
		c.Storage.Path = DefaultLocalPath
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
}

// joinProblems sorts problems by line, those without a line last, and
// joins them.
func joinProblems(probs []*Problem) error {
	key := func(p *Problem) int {
		if p.Line == 0 {
			return math.MaxInt
		}
		return p.Line
	}
	sort.SliceStable(probs, func(i, j int) bool { return key(probs[i]) < key(probs[j]) })
	errs := make([]error, len(probs))
	for i, p := range probs {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// problemsOf unpacks the problems of an errors.Join.
func problemsOf(err error) []*Problem {
	var out []*Problem
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, problemsOf(e)...)
		}
		return out
	}
	var p *Problem
	if errors.As(err, &p) {
		return []*Problem{p}
	}
	return []*Problem{{Message: err.Error()}}
}

// source remembers where each YAML path of a file is.
type source struct {
	file   string                  // base name, for messages
	dir    string                  // absolute directory, for relative paths
	lines  map[string]int          // YAML path -> line of its key or value
	tokens map[*token.Token]string // token of a key or value -> YAML path
	// expanded holds the paths of the values that had a ${NAME} reference.
	expanded map[string]bool
}

// parse parses data into one document and indexes its paths.
func (s *source) parse(data []byte) (ast.Node, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, s.decodeProblem(err)
	}
	if len(f.Docs) > 1 {
		// The "---" of the second document; an empty one has no body.
		line, doc := 0, f.Docs[1]
		if doc.Start != nil {
			line = doc.Start.Position.Line
		} else if doc.Body != nil && doc.Body.GetToken() != nil {
			line = doc.Body.GetToken().Position.Line
		}
		return nil, &Problem{File: s.file, Line: line, Message: "only one YAML document is allowed"}
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, nil
	}
	body := f.Docs[0].Body
	walk(body, "", func(n ast.Node, path string, isKey bool) {
		tok := n.GetToken()
		if tok == nil {
			return
		}
		if _, ok := s.lines[path]; !ok || isKey {
			s.lines[path] = tok.Position.Line
		}
		if _, ok := s.tokens[tok]; !ok {
			s.tokens[tok] = path
		}
	})
	return body, nil
}

// decode decodes body strictly into c, turning an error into a Problem
// with decodeProblem. go-yaml v1.19.2 panics on a tag before a value that
// is not a list where a list is wanted ("recipients: !x"); decode reports
// that as a Problem at the first tag.
func (s *source) decode(body ast.Node, c *Config) (err error) {
	defer func() {
		if recover() == nil {
			return
		}
		p := &Problem{File: s.file, Message: "cannot decode this YAML"}
		walk(body, "", func(n ast.Node, path string, isKey bool) {
			if _, ok := n.(*ast.TagNode); ok && p.Line == 0 {
				p.Line, p.Path, p.Message = n.GetToken().Position.Line, path, "cannot decode this tagged value"
			}
		})
		err = p
	}()
	if err := yaml.NodeToValue(body, c, yaml.Strict()); err != nil {
		return s.decodeProblem(err)
	}
	return nil
}

// has reports whether the key at path is in the file, even with a null
// value.
func (s *source) has(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.lines[path]
	return ok
}

// problem returns a Problem at path, on the line of path or, when path is
// absent from the file, of its nearest parent that is present.
func (s *source) problem(path, format string, args ...any) *Problem {
	p := &Problem{Path: path, Message: fmt.Sprintf(format, args...)}
	if s == nil {
		return p
	}
	p.File = s.file
	for q := path; q != ""; q = parent(q) {
		if l, ok := s.lines[q]; ok {
			p.Line = l
			break
		}
	}
	return p
}

// parent returns the parent of a YAML path: "a.b[1]" -> "a.b" -> "a" -> "".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// walk calls fn for every key and value below node, with its YAML path.
// A key is visited before its value; both get the same path.
func walk(node ast.Node, path string, fn func(n ast.Node, path string, isKey bool)) {
	if node == nil {
		return
	}
	fn(node, path, false)
	switch n := unwrap(node).(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			walkPair(mv, path, fn)
		}
	case *ast.MappingValueNode:
		walkPair(n, path, fn)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			walk(v, path+"["+strconv.Itoa(i)+"]", fn)
		}
	}
}

func walkPair(mv *ast.MappingValueNode, path string, fn func(ast.Node, string, bool)) {
	name := keyName(mv.Key)
	if path != "" {
		name = path + "." + name
	}
	fn(mv.Key, name, true)
	if _, null := mv.Value.(*ast.NullNode); !null {
		walk(mv.Value, name, fn)
	}
}

func keyName(k ast.MapKeyNode) string {
	var n ast.Node = k
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		n = mk.Value
	}
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value
	}
	return n.GetToken().Value
}

// decodeProblem turns an error of the YAML parser or decoder into a
// Problem with the line and path of its token.
func (s *source) decodeProblem(err error) error {
	var (
		pe  *posError
		te  *yaml.TypeError
		uf  *yaml.UnknownFieldError
		ut  *yaml.UnexpectedNodeTypeError
		dk  *yaml.DuplicateKeyError
		oe  *yaml.OverflowError
		ye  yaml.Error
		tok *token.Token
		msg string
	)
	switch {
	case errors.As(err, &pe):
		tok, msg = pe.tok, pe.msg
	case errors.As(err, &uf):
		tok, msg = uf.Token, "unknown key"
	case errors.As(err, &te):
		tok, msg = te.Token, typeMessage(te.DstType)
	case errors.As(err, &ut):
		tok, msg = ut.Token, nodeTypeMessage(ut.Expected)
	case errors.As(err, &dk):
		tok, msg = dk.Token, "duplicate key"
		if dk.Token != nil {
			msg = fmt.Sprintf("duplicate key %q", dk.Token.Value)
		}
	case errors.As(err, &oe):
		tok, msg = oe.Token, "number out of range"
	case errors.As(err, &ye):
		tok, msg = ye.GetToken(), ye.GetMessage()
	default:
		return fmt.Errorf("config: %s: %w", s.file, err)
	}
	p := &Problem{File: s.file, Message: msg}
	if tok != nil {
		p.Line = tok.Position.Line
		p.Path = s.tokens[tok]
	}
	return p
}

// nodeTypeMessage says what kind of YAML node was expected.
func nodeTypeMessage(t ast.NodeType) string {
	switch t {
	case ast.MappingType, ast.MappingValueType:
		return "must be a mapping"
	case ast.SequenceType:
		return "must be a list"
	}
	return "must be a " + strings.ToLower(t.String())
}

// typeMessage says what kind of YAML value a Go type wants.
func typeMessage(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "must be an integer"
	case reflect.Bool:
		return "must be true or false"
	case reflect.String:
		return "must be a string"
	case reflect.Slice, reflect.Array:
		return "must be a list"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "must be a mapping"
	}
	return "must be a " + t.String()
}
