package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mcpauthz/mcpauthz/authz"
	"github.com/mcpauthz/mcpauthz/store"
)

// minPasswordLen is the shortest password the CLI accepts.
const minPasswordLen = 8

// openStore opens the configured database for an administrative command.
func (e *env) openStore(ctx context.Context, cf *commonFlags) (FileConfig, store.Store, error) {
	fc, err := cf.load(e)
	if err != nil {
		return fc, nil, err
	}
	if err := fc.validate(); err != nil {
		return fc, nil, err
	}
	st, err := store.Open(ctx, store.Config{DSN: fc.DB, Logger: newLogger(FileConfig{LogLevel: "warn"}, e.stderr)})
	return fc, st, err
}

// maxPasswordBytes bounds a password read from standard input.
const maxPasswordBytes = 4096

func (e *env) user(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError("user needs a subcommand: add, list, delete, passwd")
	}
	var cf commonFlags
	fs := newFlagSet("user "+args[0], e)
	cf.register(fs, false)
	stdinPw := fs.Bool("password-stdin", false, "read the password from standard input")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	needName := func() (string, error) {
		if len(pos) != 1 || strings.TrimSpace(pos[0]) == "" {
			return "", usageError("user %s needs exactly one NAME", args[0])
		}
		return pos[0], nil
	}
	readPassword := func() (string, error) {
		if !*stdinPw {
			return "", usageError("passwords are read from standard input only: pass --password-stdin")
		}
		// One byte more than the limit, so that a longer password is
		// refused rather than cut short.
		line, err := bufio.NewReader(io.LimitReader(e.stdin, maxPasswordBytes+1)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		switch {
		case len(pw) < minPasswordLen:
			return "", fmt.Errorf("password: at least %d characters", minPasswordLen)
		case len(pw) > maxPasswordBytes:
			return "", fmt.Errorf("password: at most %d bytes", maxPasswordBytes)
		}
		return pw, nil
	}
	switch args[0] {
	case "add", "passwd":
		name, err := needName()
		if err != nil {
			return err
		}
		if err := validUserName(name); err != nil {
			return err
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		hash, err := authz.NewPasswordHasher(authz.DefaultArgon2Params()).Hash(pw)
		if err != nil {
			return err
		}
		_, st, err := e.openStore(ctx, &cf)
		if err != nil {
			return err
		}
		defer st.Close()
		if args[0] == "add" {
			err = st.CreateUser(ctx, &store.User{ID: newID(), Name: name, PasswordHash: hash})
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("user %q already exists", name)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "created user %q\n", name)
			return nil
		}
		u, err := st.GetUserByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q", name)
		} else if err != nil {
			return err
		}
		if err := st.SetUserPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "changed the password of %q\n", name)
		return nil
	case "delete":
		name, err := needName()
		if err != nil {
			return err
		}
		_, st, err := e.openStore(ctx, &cf)
		if err != nil {
			return err
		}
		defer st.Close()
		u, err := st.GetUserByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q", name)
		} else if err != nil {
			return err
		}
		if err := st.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "deleted user %q and revoked every token issued to them\n", name)
		return nil
	case "list":
		if len(pos) > 0 {
			return usageError("user list takes no arguments")
		}
		_, st, err := e.openStore(ctx, &cf)
		if err != nil {
			return err
		}
		defer st.Close()
		users, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		type row struct {
			ID        string    `json:"id"`
			Name      string    `json:"name"`
			CreatedAt time.Time `json:"created_at"`
		}
		out := []row{}
		for _, u := range users {
			out = append(out, row{u.ID, u.Name, u.CreatedAt})
		}
		return writeOut(e.stdout, out)
	default:
		return usageError("unknown user subcommand %q", args[0])
	}
}

// validUserName keeps names printable and short.
func validUserName(name string) error {
	if len(name) > 100 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return fmt.Errorf("user name %q: up to 100 visible characters, no spaces", name)
	}
	return nil
}

func writeOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
