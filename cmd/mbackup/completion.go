package main

// The completion scripts are generated from the command table and each
// command's FlagSet, as the help is: they complete the command names, each
// command's own flags with the global ones it accepts, a file after any
// flag that takes a value, the command after "help" and the shell after
// "completion". Snapshot ids are not completed.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

func runCompletion(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("completion")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("completion: name one shell: bash, zsh or fish\n%s", commandUsage(fs))
	}
	specs := completionSpecs(ctx)
	var script string
	switch fs.Arg(0) {
	case "bash":
		script = bashCompletion(specs)
	case "zsh":
		script = zshCompletion(specs)
	case "fish":
		script = fishCompletion(specs)
	default:
		return usagef("completion: unknown shell %q: bash, zsh or fish\n%s", fs.Arg(0), commandUsage(fs))
	}
	_, err := io.WriteString(e.stdout, script)
	return err
}

// compFlag is one flag as the completion scripts offer it.
type compFlag struct {
	name   string // as written: -i, --only
	valued bool   // takes a value (completed as a file)
	text   string // one line of description
}

// compSpec is what completes after one command; the empty name is the top
// level, before any command.
type compSpec struct {
	name, summary string
	flags         []compFlag
}

// completionSpecs are the top level's flags, then each command with its
// own flags and the global ones it accepts.
func completionSpecs(ctx context.Context) []compSpec {
	topFS, _ := (&env{}).topFlags()
	top := compSpec{flags: append(compFlags(topFS, func(*flag.Flag) bool { return true }), helpFlag("the list of commands"))}
	specs := []compSpec{top}
	for _, c := range commands() {
		fs := commandFlags(ctx, c)
		own := compFlags(fs, func(f *flag.Flag) bool { return !isGlobal(f.Name) })
		global := compFlags(fs, func(f *flag.Flag) bool { return isGlobal(f.Name) && (c.config || f.Name != "config") })
		flags := append(append(own, global...), helpFlag("usage and flags of "+c.name))
		specs = append(specs, compSpec{name: c.name, summary: shorten(c.summary), flags: flags})
	}
	return specs
}

// compFlags are the flags of fs that keep selects, sorted by name.
func compFlags(fs *flag.FlagSet, keep func(*flag.Flag) bool) []compFlag {
	var out []compFlag
	fs.VisitAll(func(f *flag.Flag) {
		if keep(f) {
			out = append(out, compFlag{flagName(f), !isBool(f), shorten(flagText(f))})
		}
	})
	return out
}

func helpFlag(text string) compFlag { return compFlag{"--help", false, text} }

// shorten cuts a description to its first clause, at most 60 characters.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.IndexAny(s, ";("); i > 0 {
		s = strings.TrimSpace(s[:i])
	}
	if r := []rune(s); len(r) > 60 {
		s = strings.TrimSpace(string(r[:59])) + "…"
	}
	return s
}

// flagWords is the flag names of s, space-separated; with valued, only
// those that take a value.
func flagWords(s compSpec, valued bool) string {
	var w []string
	for _, f := range s.flags {
		if !valued || f.valued {
			w = append(w, f.name)
		}
	}
	return strings.Join(w, " ")
}

// commandNames is every command name, space-separated.
func commandNames(specs []compSpec) string {
	var n []string
	for _, s := range specs[1:] {
		n = append(n, s.name)
	}
	return strings.Join(n, " ")
}

func bashCompletion(specs []compSpec) string {
	var b strings.Builder
	b.WriteString(`# bash completion for mbackup.
# Load it with: source <(mbackup completion bash)
# or install it: mbackup completion bash > /etc/bash_completion.d/mbackup

_mbackup() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local cmd= i w flags valued
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in
      --config|-config) ((i++)) ;;
      -*) ;;
      *) cmd=$w; break ;;
    esac
  done
  case $cmd in
`)
	for _, s := range specs {
		fmt.Fprintf(&b, "    %s) flags=%s; valued=%s ;;\n", caseLabel(s.name), shq(flagWords(s, false)), shq(" "+flagWords(s, true)+" "))
	}
	fmt.Fprintf(&b, `    *) flags=; valued= ;;
  esac
  # After a flag that takes a value: nothing here, so bash offers files.
  [[ $valued == *" ${prev%%%%=*} "* && $cur != -* ]] && return
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  case $cmd in
    "") COMPREPLY=($(compgen -W %s -- "$cur")) ;;
    help) COMPREPLY=($(compgen -W %s -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")) ;;
  esac
}
complete -o default -F _mbackup mbackup
`, shq(commandNames(specs)), shq(commandNames(specs)))
	return b.String()
}

func zshCompletion(specs []compSpec) string {
	var b strings.Builder
	b.WriteString(`#compdef mbackup
# zsh completion for mbackup.
# Load it with: source <(mbackup completion zsh)   (after compinit)
# or install it as _mbackup in a directory of $fpath:
#   mbackup completion zsh > /usr/local/share/zsh/site-functions/_mbackup

_mbackup() {
  local -a cmds flags valued
  local i cmd=
  cmds=(
`)
	for _, s := range specs[1:] {
		fmt.Fprintf(&b, "    %s\n", shq(s.name+":"+s.summary))
	}
	b.WriteString(`  )
  for ((i = 2; i < CURRENT; i++)); do
    case $words[i] in
      --config|-config) ((i++)) ;;
      -*) ;;
      *) cmd=$words[i]; break ;;
    esac
  done
  case $cmd in
`)
	for _, s := range specs {
		var fl []string
		for _, f := range s.flags {
			fl = append(fl, shq(f.name+":"+f.text))
		}
		fmt.Fprintf(&b, "    %s) flags=(%s); valued=(%s) ;;\n", caseLabel(s.name), strings.Join(fl, " "), flagWords(s, true))
	}
	b.WriteString(`  esac
  if (( ${valued[(Ie)${words[CURRENT-1]}]} )) && [[ $PREFIX != -* ]]; then
    _files
    return
  fi
  if [[ $PREFIX == -* ]]; then
    _describe -t flags 'flag' flags
    return
  fi
  case $cmd in
    "") _describe -t commands 'mbackup command' cmds ;;
    help) _describe -t commands 'command' cmds ;;
    completion) compadd bash zsh fish ;;
    *) _files ;;
  esac
}

if [[ $funcstack[1] == _mbackup ]]; then
  _mbackup "$@"
else
  compdef _mbackup mbackup
fi
`)
	return b.String()
}

func fishCompletion(specs []compSpec) string {
	var b strings.Builder
	b.WriteString(`# fish completion for mbackup.
# Load it with: mbackup completion fish | source
# or install it: mbackup completion fish > ~/.config/fish/completions/mbackup.fish

complete -c mbackup -f
`)
	for _, s := range specs[1:] {
		fmt.Fprintf(&b, "complete -c mbackup -n __fish_use_subcommand -a %s -d %s\n", s.name, shq(s.summary))
	}
	for _, s := range specs {
		cond := "__fish_use_subcommand"
		if s.name != "" {
			cond = "__fish_seen_subcommand_from " + s.name
		}
		for _, f := range s.flags {
			opt := "-l " + strings.TrimPrefix(f.name, "--")
			if len(f.name) == 2 {
				opt = "-s " + f.name[1:]
			}
			if f.valued {
				opt += " -r -F"
			}
			fmt.Fprintf(&b, "complete -c mbackup -n %s %s -d %s\n", shq(cond), opt, shq(f.text))
		}
	}
	b.WriteString("complete -c mbackup -n '__fish_seen_subcommand_from help' -a " + shq(commandNames(specs)) + "\n")
	b.WriteString("complete -c mbackup -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n")
	return b.String()
}

// caseLabel is a case pattern for a command name, "" for the top level.
func caseLabel(name string) string {
	if name == "" {
		return `""`
	}
	return name
}

// shq quotes s for a POSIX shell, zsh and fish alike.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
