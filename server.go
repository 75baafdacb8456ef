// Command authz-gateway serves the authorization GraphQL gateway.
//
//	authz-gateway                 serve (default)
//	authz-gateway migrate         bring the database schema to this binary's version
//	authz-gateway token --email E print a bearer token for a user
//
// Configuration comes from the environment; see app/config.go and the
// README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"authz-gateway/app"
	"authz-gateway/db"
	"authz-gateway/redisconn"
)

func main() {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	redisconn.SilenceLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "authz-gateway:", err)
		os.Exit(1)
	}
}

// run dispatches the sub-commands.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		return err
	}
	if len(args) > 0 && args[0] == "token" {
		return tokenCommand(ctx, cfg, args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "migrate" {
		migrated, err := app.Migrate(ctx, cfg)
		if err != nil {
			return err
		}
		if migrated {
			_, err = fmt.Fprintf(stdout, "migrated the database schema to version %s\n", db.SchemaVersion())
		} else {
			_, err = fmt.Fprintf(stdout, "the database schema is already at version %s\n", db.SchemaVersion())
		}
		return err
	}
	if len(args) > 0 && args[0] != "serve" {
		return fmt.Errorf("unknown command %q (commands: serve, migrate, token)", args[0])
	}
	gw, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer gw.Close()
	if err := gw.Listen(":" + cfg.Port); err != nil {
		return err
	}
	if err := printWelcome(ctx, gw, stdout); err != nil {
		return err
	}
	return gw.Serve(ctx)
}

// printWelcome tells a developer where the playground is and gives them a
// token for the admin.
func printWelcome(ctx context.Context, gw *app.App, w io.Writer) error {
	cfg := gw.Config()
	if !cfg.Development() {
		return nil
	}
	_, err := fmt.Fprintf(w, "authz-gateway is ready.\n  Playground: %s/\n  GraphQL:    %s/graphql\n", gw.URL(), gw.URL())
	if err != nil {
		return err
	}
	token, err := gw.TokenFor(ctx, cfg.AdminEmail)
	if err != nil {
		// ADMIN_EMAIL is bootstrapped only while no admin exists: after a
		// hand-over it may name nobody. Serving goes on.
		_, err = fmt.Fprintf(w, "  No user has ADMIN_EMAIL (%s); mint a token with: go run . token --email <an admin's email>\n", cfg.AdminEmail)
		return err
	}
	_, err = fmt.Fprintf(w, "  Admin token (%s), paste into the playground's headers as\n  {\"Authorization\": \"Bearer %s\"}\n",
		cfg.AdminEmail, token)
	return err
}

// tokenCommand prints exactly one line on stdout: a token for the user.
func tokenCommand(ctx context.Context, cfg app.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	email := fs.String("email", "", "email of the user the token is for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("token: --email is required")
	}
	gw, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer gw.Close()
	token, err := gw.TokenFor(ctx, *email)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}
