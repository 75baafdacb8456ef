// Command authz-gateway serves the authorization GraphQL gateway.
//
//	authz-gateway                 serve (default)
//	authz-gateway migrate         bring the database schema to this binary's version
//	authz-gateway token --email E print a bearer token for a user
//	authz-gateway --help          the commands and where configuration comes from
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
	"runtime/debug"
	"syscall"
	"time"

	"authz-gateway/app"
	"authz-gateway/db"
	"authz-gateway/redisconn"
)

// logLevel is the log's level: LOG_LEVEL, else debug in development (why a
// token was refused, say) and info otherwise.
var logLevel = new(slog.LevelVar)

func main() {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})))
	redisconn.SilenceLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "authz-gateway:", err)
		os.Exit(1)
	}
}

// usage is what `authz-gateway --help` prints.
const usage = `authz-gateway: a GraphQL gateway that answers what each user may do, and where.

Usage:
  authz-gateway [serve]            serve GraphQL on $PORT (the default command)
  authz-gateway migrate            bring the database schema to this binary's version
  authz-gateway token --email E    print a bearer token for the user with email E
  authz-gateway --version          print the version
  authz-gateway COMMAND --help     print a command's usage

Configuration comes from the environment: DATABASE_URL (postgres://...; unset:
the embedded SQLite default in $DATA_DIR), REDIS_URL or REDIS_HOST/REDIS_PORT,
JWT_SECRET, ADMIN_EMAIL, GATEWAY_ENV, PORT and the limits;
docs/configuration.md lists every setting.
`

// run dispatches the sub-commands. Help and the version are answered before
// the environment is read, so they work anywhere and touch nothing.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	command, rest := "serve", args
	if len(args) > 0 {
		command, rest = args[0], args[1:]
	}
	switch command {
	case "-h", "-help", "--help", "help":
		_, err := io.WriteString(stdout, usage)
		return err
	case "-version", "--version", "version":
		_, err := fmt.Fprintln(stdout, "authz-gateway", version())
		return err
	case "serve":
		return serveCommand(ctx, rest, getenv, stdout)
	case "migrate":
		return migrateCommand(ctx, rest, getenv, stdout)
	case "token":
		return tokenCommand(ctx, rest, getenv, stdout)
	}
	return fmt.Errorf("unknown command %q (run authz-gateway --help)", command)
}

// parseFlags parses a command's flags; help is printed to stdout and
// reported as done (the command then does nothing).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, synopsis string) (done bool, err error) {
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: authz-gateway %s\n", synopsis)
		fs.PrintDefaults()
	}
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return false, err
}

func serveCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if done, err := parseFlags(fs, args, stdout, "serve\n\nServes GraphQL on $PORT (configured by the environment; see --help)."); done || err != nil {
		return err
	}
	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		return err
	}
	app.ApplyMemoryLimit(cfg, getenv)
	logLevel.Set(cfg.LogLevel)
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

func migrateCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	if done, err := parseFlags(fs, args, stdout, "migrate\n\nBrings DATABASE_URL's schema to this binary's version, once per deploy."); done || err != nil {
		return err
	}
	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		return err
	}
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

// version is the module version and, when the build recorded them, the
// commit and its time.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	var commit, when string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			when = s.Value
		}
	}
	if commit != "" {
		v += fmt.Sprintf(" (commit %.12s, %s)", commit, when)
	}
	return v
}

// printWelcome tells a developer where the playground is and gives them a
// token for the admin.
func printWelcome(ctx context.Context, gw *app.App, w io.Writer) error {
	cfg := gw.Config()
	if !cfg.Development() {
		return nil
	}
	// "ready" only when /readyz says so (the first warming, the provider's
	// keys), which the welcome waits for a little; past that it says why
	// not, rather than announce what /readyz would deny.
	state := "is ready."
	wait, cancel := context.WithTimeout(ctx, cfg.WarmReady+time.Second)
	if err := gw.Ready(wait); err != nil {
		state = fmt.Sprintf("is serving, but not ready yet (%v): see /readyz.", err)
	}
	cancel()
	_, err := fmt.Fprintf(w, "authz-gateway %s\n  Playground: %s/\n  GraphQL:    %s/graphql\n", state, gw.URL(), gw.URL())
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

// tokenCommand prints exactly one line on stdout: a token for the user. It
// reads and writes nothing else: no migration, no bootstrap, no log entry
// (app.IssueToken).
func tokenCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	email := fs.String("email", "", "email of the user the token is for (required)")
	if done, err := parseFlags(fs, args, stdout, "token --email E\n\nPrints a bearer token for the user with email E, valid TOKEN_TTL."); done || err != nil {
		return err
	}
	if *email == "" {
		return errors.New("token: --email is required")
	}
	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		return err
	}
	token, err := app.IssueToken(ctx, cfg, *email)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}
