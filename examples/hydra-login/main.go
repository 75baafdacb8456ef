// Command hydra-login is a development login and consent app for Ory Hydra:
// it signs in the people of a JSON file and gives their access tokens the
// claims the gateway reads. docs/identity.md shows the whole person sign-in
// path with it (Hydra, the gateway, the example web app).
//
//	go run ./examples/hydra-login -people examples/hydra-login/people.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"authz-gateway/examples/hydra-login/login"
)

func main() {
	if err := run(); err != nil {
		slog.Error("hydra-login", "err", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:3000", "address of the login and consent pages (Hydra's urls.login and urls.consent)")
	admin := flag.String("hydra-admin", "http://127.0.0.1:4445", "Hydra's admin API")
	audience := flag.String("audience", "authz-gateway", "the audience granted to access tokens: the gateway's AUTH_AUDIENCE")
	peopleFile := flag.String("people", "examples/hydra-login/people.json", "JSON array of {email, name, password, groups} who may sign in")
	flag.Parse()

	f, err := os.Open(*peopleFile)
	if err != nil {
		return fmt.Errorf("people: %w", err)
	}
	people, err := login.LoadPeople(f)
	f.Close()
	if err != nil {
		return err
	}
	handler, err := login.New(login.Config{HydraAdminURL: *admin, Audience: *audience, People: people})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("hydra-login: login and consent pages", "url", "http://"+*listen+"/login", "people", len(people))
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
