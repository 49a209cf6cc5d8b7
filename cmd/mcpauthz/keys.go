package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpauthz/mcpauthz/authz"
)

// keys manages the access-token signing keys: `keys list` and `keys rotate`.
func (e *env) keys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError("keys needs a subcommand: list, rotate")
	}
	var cf commonFlags
	fs := newFlagSet("keys "+args[0], e)
	cf.register(fs, false)
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("keys %s takes no arguments", args[0])
	}
	if args[0] != "list" && args[0] != "rotate" {
		return usageError("unknown keys subcommand %q", args[0])
	}
	fc, st, err := e.openStore(ctx, &cf)
	if err != nil {
		return err
	}
	defer st.Close()
	master, err := fc.masterKey(false, func(msg string) { fmt.Fprintln(e.stderr, "mcpauthz: warning:", msg) })
	if err != nil {
		return err
	}
	secrets, err := authz.DeriveSecrets(master)
	if err != nil {
		return err
	}
	acfg := fc.authzConfig(secrets).WithDefaults()
	keys, err := authz.NewKeys(ctx, st, secrets.KeyEncryption, acfg.AccessTokenLifetime+10*time.Minute, time.Now)
	if err != nil {
		return err
	}
	if args[0] == "rotate" {
		k, err := keys.Rotate(ctx)
		if err != nil {
			return err
		}
		when := "signs from now on"
		if k.SignsFrom != nil {
			when = "is published now and signs from " + k.SignsFrom.Format(time.RFC3339) + ", once every instance and cache of /jwks has it"
		}
		fmt.Fprintf(e.stderr, "new signing key %s %s; the previous keys stay published until the tokens they signed have expired\n", k.ID, when)
	}
	list, err := keys.List(ctx)
	if err != nil {
		return err
	}
	return writeOut(e.stdout, list)
}
