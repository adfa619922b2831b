package main

import (
	"fmt"

	"mbackup/internal/engine"
	"mbackup/internal/engines"
	"mbackup/internal/restore"
)

// askTargets sets the targets of the selected components from the flags,
// asking for each value in guided mode with the flag as its default, in
// the order the restore runs.
func (r *restorer) askTargets(only []string) error {
	var ask engine.Asker
	if r.p != nil {
		ask = asker{r.p}
	}
	databases := false
	for _, e := range engines.InRestoreOrder() {
		build, ok := r.f.targets[e.Component()]
		if !ok || !restore.Wants(r.m, only, e.Component()) {
			continue
		}
		t, err := build(ask)
		if err != nil {
			return err
		}
		r.targets = append(r.targets, t)
		if _, ok := t.(engine.Scratch); ok {
			databases = true
		}
	}
	var err error
	if r.p != nil && databases && !r.f.clean {
		r.f.clean, err = r.p.yesNo("Databases that exist and are not empty are refused. Restore over them instead "+
			"(DROPS and recreates the dump's objects; MySQL: the whole database)?", false)
	}
	return err
}

// asker asks an engine's questions with the prompter.
type asker struct{ p *prompter }

func (a asker) Say(text string)                        { fmt.Fprintln(a.p.out, text) }
func (a asker) Line(q, def string) (string, error)     { return a.p.line(q, def) }
func (a asker) Number(q string, def int) (int, error)  { return a.p.number(q, def) }
func (a asker) Secret(question string) (string, error) { return a.p.secret(question) }
