package engine

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// Asker asks the operator for the values of a target in a guided restore.
type Asker interface {
	// Say prints a line that explains the questions after it.
	Say(text string)
	// Line returns the answer to question, or def when it is empty.
	Line(question, def string) (string, error)
	// Number asks for a port.
	Number(question string, def int) (int, error)
	// Secret asks for a password, without echo on a terminal.
	Secret(question string) (string, error)
}

// Restorable is an Engine that the restore command restores into a
// target given by flags.
type Restorable interface {
	Engine
	// TargetFlags registers the flags of the engine's target on fs and
	// returns what builds the target from them once they are parsed. With
	// an Asker (guided mode) it asks for each value, the flag's as default.
	TargetFlags(fs *flag.FlagSet) func(ask Asker) (Target, error)
}

// Conn is a database server to restore into and where its password comes
// from.
type Conn struct {
	Host     string
	Port     int
	User     string
	Password string
	// PassFile is the file holding the password; "" means the variable
	// PassEnv, when it is set.
	PassFile, PassEnv string
}

// Ask takes the password from PassFile or PassEnv and, with ask, asks
// under title for host, port, user and (when neither gave one) the
// password, asked as pwQuestion, with c's values as defaults.
func (c *Conn) Ask(ask Asker, title, pwQuestion string) error {
	pw, given, err := password(c.PassFile, c.PassEnv)
	if err != nil {
		return err
	}
	c.Password = pw
	if ask == nil {
		return nil
	}
	ask.Say("\n" + title + ":")
	if c.Host, err = ask.Line("  host", c.Host); err != nil {
		return err
	}
	if c.Port, err = ask.Number("  port", c.Port); err != nil {
		return err
	}
	if c.User, err = ask.Line("  user", c.User); err != nil {
		return err
	}
	if !given {
		c.Password, err = ask.Secret(pwQuestion)
	}
	return err
}

// password reads a password file, else the environment variable; given
// says whether either was set.
func password(file, envVar string) (string, bool, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), true, nil
	}
	v, ok := os.LookupEnv(envVar)
	return v, ok, nil
}
