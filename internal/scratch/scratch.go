// Package scratch makes throw-away resources on shared servers: a PostgreSQL
// database and a Redis key prefix with random names, and the means to remove
// them. The tests (through testenv) and the load tool use it, so neither ever
// touches data it did not create.
package scratch

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"
)

// CreateDatabase creates an empty database, named namePrefix plus a random
// suffix, on the PostgreSQL server of serverURL. It returns the new
// database's URL and a function that drops it.
func CreateDatabase(ctx context.Context, serverURL, namePrefix string) (string, func(), error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse database URL: %w", err)
	}
	admin, err := sql.Open("postgres", serverURL)
	if err != nil {
		return "", nil, err
	}
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		return "", nil, fmt.Errorf("PostgreSQL at %s is not reachable: %w", redact(serverURL), err)
	}
	name := namePrefix + Suffix()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() error {
		defer admin.Close()
		_, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	u.Path = "/" + name
	return u.String(), func() {
		if err := drop(); err != nil {
			fmt.Printf("testenv: drop database %s: %v\n", name, err)
		}
	}, nil
}

// DeletePrefix deletes every key under prefix (SCAN, then DEL per key).
func DeletePrefix(ctx context.Context, client redis.UniversalClient, prefix string) {
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		client.Del(ctx, iter.Val())
	}
}

// Suffix returns 12 random hex characters for names and prefixes.
func Suffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// redact hides a URL's password for error messages.
func redact(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	if _, ok := parsed.User.Password(); ok {
		parsed.User = url.UserPassword(parsed.User.Username(), "xxx")
	}
	return strings.TrimSpace(fmt.Sprint(parsed))
}
