// Package artifact is the vocabulary of a snapshot's parts: the component
// an artifact belongs to, the kind of file it holds, and the key it is
// stored under.
//
// Invariants:
//   - Path is the only place an artifact's key is made:
//     <component>/<EncodeName(name)>.<kind>.zst.age, below its snapshot's
//     directory. The name is encoded, never joined as a path, so no name
//     can leave that directory or meet another artifact's key; names made
//     only of [A-Za-z0-9_-] are unchanged, so keys of every snapshot ever
//     written keep their bytes.
//   - KindOf reads back the kind Path wrote: KindOf(Path(r)) == r.Kind.
//   - Component and Kind are open: an engine may declare its own values;
//     the constants here are those of the engines that exist.
package artifact

import (
	"path"
	"strings"
)

// Component is the part of an instance an artifact belongs to; it is the
// first segment of the artifact's key and what selectors name.
type Component string

// The components of the engines that exist.
const (
	Postgres Component = "postgres"
	MySQL    Component = "mysql"
	Redis    Component = "redis"
	Files    Component = "files"
)

// Kind is the format of an artifact's plaintext, written as its extension
// without the dot.
type Kind string

// The kinds of the engines that exist.
const (
	Dump Kind = "dump" // pg_dump -Fc
	SQL  Kind = "sql"  // SQL text fed to a client: PostgreSQL globals, MySQL dumps
	RDB  Kind = "rdb"  // a Redis RDB file
	Tar  Kind = "tar"  // a tar stream (PAX) of files and directories
)

// Ext is the extension of the plaintext: ".dump".
func (k Kind) Ext() string {
	if k == "" {
		return ""
	}
	return "." + string(k)
}

// sealed ends every key: the plaintext is compressed, then encrypted.
const sealed = ".zst.age"

// Ref names one artifact: its component, its name (a database, "globals",
// a Redis name) and its kind.
type Ref struct {
	Component Component
	Name      string
	Kind      Kind
}

// String is component/name, as selectors spell it.
func (r Ref) String() string { return string(r.Component) + "/" + r.Name }

// Path is r's key below its snapshot's directory:
// <component>/<EncodeName(name)><ext>.zst.age.
func (r Ref) Path() string {
	return string(r.Component) + "/" + EncodeName(r.Name) + r.Kind.Ext() + sealed
}

// KindOf is the kind of the artifact stored under key: "dump" of
// ".../x.dump.zst.age"; "" when key has no extension before .zst.age.
func KindOf(key string) Kind {
	return Kind(strings.TrimPrefix(path.Ext(strings.TrimSuffix(key, sealed)), "."))
}
