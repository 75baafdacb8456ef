package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"golang.org/x/time/rate"
)

// KeySetConfig says where an identity provider publishes its keys.
type KeySetConfig struct {
	// Issuer is the provider's issuer URL: its key set is found through
	// OIDC discovery (<issuer>/.well-known/openid-configuration), unless
	// JWKSURL names it.
	Issuer  string
	JWKSURL string
	// Client fetches (default: a client with a 10 s timeout and the
	// system's roots, SSL_CERT_FILE honoured).
	Client *http.Client
	// Refresh is how often the key set is fetched in the background
	// (default 15 min); while no key is known it is retried every
	// UnknownKIDEvery instead.
	Refresh time.Duration
	// UnknownKIDEvery is the least time between two fetches caused by
	// tokens naming a key the set does not hold (default 10 s): a flood of
	// random kids costs the provider one fetch per period, not one each.
	UnknownKIDEvery time.Duration
}

// Defaults of KeySetConfig.
const (
	DefaultKeyRefresh      = 15 * time.Minute
	DefaultUnknownKIDEvery = 10 * time.Second
	// maxProviderBody bounds what is read of a discovery document or key
	// set: a provider's answer is a few kilobytes.
	maxProviderBody = 1 << 20
	// RefetchWait is the longest a request (or the gateway's start) waits
	// for a fetch of the key set: a provider that hangs costs a request at
	// most this, then the token is judged by the keys already held (the
	// fetch goes on in the background, within the client's timeout).
	RefetchWait = time.Second
)

// KeySet holds an identity provider's public keys: fetched at start,
// refreshed in the background, refetched (rate-limited) when a token names
// an unknown key. A failed fetch keeps the last good set, so the gateway
// goes on verifying while the provider is down. It is the jwkset.Storage
// the keyfunc library reads keys from; jwkset parses and validates the
// keys (no hand-rolled key parsing here).
type KeySet struct {
	*jwkset.MemoryJWKSet
	cfg     KeySetConfig
	unknown *rate.Limiter

	// life bounds the background fetches (the set's lifetime).
	life context.Context

	fetchMu sync.Mutex // one fetch at a time
	fetches atomic.Int64
	// inflight is closed when the background fetch under way ends (nil:
	// none is); concurrent askers share it.
	inflightMu sync.Mutex
	inflight   chan struct{}
	// version counts the changes of the set (verified tokens are
	// forgotten when it moves: a removed key verifies nothing more).
	version atomic.Uint64
	size    atomic.Int64
	lastErr atomic.Pointer[error]
}

// NewKeySet returns the key set of cfg after a first fetch (waited for at
// most RefetchWait: a hanging provider does not hold the gateway's start),
// and keeps it fresh until ctx ends. A failed or slow first fetch is not
// an error: the set is empty and not Ready until a fetch succeeds
// (retried every UnknownKIDEvery).
func NewKeySet(ctx context.Context, cfg KeySetConfig) *KeySet {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultKeyRefresh
	}
	if cfg.UnknownKIDEvery <= 0 {
		cfg.UnknownKIDEvery = DefaultUnknownKIDEvery
	}
	k := &KeySet{
		MemoryJWKSet: jwkset.NewMemoryStorage(),
		cfg:          cfg,
		unknown:      rate.NewLimiter(rate.Every(cfg.UnknownKIDEvery), 1),
		life:         ctx,
	}
	select {
	case <-k.refreshInBackground("no keys yet; retrying"):
	case <-time.After(RefetchWait):
		slog.WarnContext(ctx, "identity provider: the key set is slow to answer; starting without keys, still fetching")
	}
	go k.keepFresh(ctx)
	return k
}

// refreshInBackground starts a fetch of the key set unless one is under
// way, and returns a channel closed when that fetch ends. A failure is
// logged with what: the last good keys stay.
func (k *KeySet) refreshInBackground(what string) <-chan struct{} {
	k.inflightMu.Lock()
	defer k.inflightMu.Unlock()
	if k.inflight != nil {
		return k.inflight
	}
	done := make(chan struct{})
	k.inflight = done
	go func() {
		defer func() {
			k.inflightMu.Lock()
			k.inflight = nil
			k.inflightMu.Unlock()
			close(done)
		}()
		if err := k.Refresh(k.life); err != nil {
			slog.WarnContext(k.life, "identity provider: "+what, "err", err)
		}
	}()
	return done
}

func (k *KeySet) keepFresh(ctx context.Context) {
	for {
		wait := k.cfg.Refresh
		if k.size.Load() == 0 {
			wait = k.cfg.UnknownKIDEvery
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := k.Refresh(ctx); err != nil {
			if k.size.Load() == 0 {
				slog.WarnContext(ctx, "identity provider: no keys yet; retrying", "err", err)
			} else {
				slog.WarnContext(ctx, "identity provider: key refresh failed; keeping the last good keys", "err", err)
			}
		}
	}
}

// KeyRead returns the key named kid. An unknown kid refetches the set,
// at most once per UnknownKIDEvery (never waiting for the limiter: a
// token that comes too soon after the last refetch is simply refused),
// and waits for that fetch at most RefetchWait: past it, the token is
// judged by the keys held (refused), and the fetch goes on for the next.
func (k *KeySet) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	jwk, err := k.MemoryJWKSet.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) || !k.unknown.Allow() {
		return jwk, err
	}
	wait := time.NewTimer(RefetchWait)
	defer wait.Stop()
	select {
	case <-k.refreshInBackground("refetch for an unknown key failed"):
		return k.MemoryJWKSet.KeyRead(ctx, kid)
	case <-wait.C:
		return jwk, fmt.Errorf("key %q: the key set's refetch is taking longer than %s: %w", kid, RefetchWait, err)
	case <-ctx.Done():
		return jwk, err
	}
}

// Refresh fetches the key set now (discovery first, unless JWKSURL is
// set) and replaces the held keys when the fetch gives at least one usable
// key.
func (k *KeySet) Refresh(ctx context.Context) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	k.fetches.Add(1)
	keys, err := k.fetch(ctx)
	if err == nil {
		err = k.replace(ctx, keys)
	}
	if err != nil {
		k.lastErr.Store(&err)
		return err
	}
	k.lastErr.Store(nil)
	return nil
}

func (k *KeySet) replace(ctx context.Context, keys []jwkset.JWK) error {
	held, err := k.MemoryJWKSet.KeyReadAll(ctx)
	if err != nil {
		return fmt.Errorf("read keys: %w", err)
	}
	if err := k.MemoryJWKSet.KeyReplaceAll(ctx, keys); err != nil {
		return fmt.Errorf("store keys: %w", err)
	}
	k.size.Store(int64(len(keys)))
	if !sameKeys(held, keys) {
		k.version.Add(1)
	}
	return nil
}

// fetch reads the key set: the usable signing keys it holds (RSA, EC and
// OKP public keys; symmetric keys and keys for encryption are skipped, so
// no token can be verified with a shared secret taken from the set).
func (k *KeySet) fetch(ctx context.Context) ([]jwkset.JWK, error) {
	url := k.cfg.JWKSURL
	if url == "" {
		var err error
		if url, err = k.discover(ctx); err != nil {
			return nil, err
		}
	}
	var set jwkset.JWKSMarshal
	if err := k.getJSON(ctx, url, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	var keys []jwkset.JWK
	for _, m := range set.Keys {
		switch {
		case m.KTY != jwkset.KtyRSA && m.KTY != jwkset.KtyEC && m.KTY != jwkset.KtyOKP:
			continue
		case m.USE != "" && m.USE != jwkset.UseSig:
			continue
		}
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			slog.WarnContext(ctx, "identity provider: skipping a key that does not parse", "kid", m.KID, "err", err)
			continue
		}
		keys = append(keys, jwk)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key set %s holds no usable signing key", url)
	}
	return keys, nil
}

// discover reads the provider's OIDC discovery document: its issuer must
// be the configured one (a document for someone else is refused), and its
// jwks_uri is the key set.
func (k *KeySet) discover(ctx context.Context) (string, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	url := strings.TrimSuffix(k.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	if err := k.getJSON(ctx, url, &doc); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if !SameIssuer(doc.Issuer, k.cfg.Issuer) {
		return "", fmt.Errorf("discovery: %s names issuer %q, not %q", url, doc.Issuer, k.cfg.Issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("discovery: %s has no jwks_uri", url)
	}
	return doc.JWKSURI, nil
}

func (k *KeySet) getJSON(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("request %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: status %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxProviderBody)).Decode(into); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	return nil
}

// Ready is nil once a key is known, else why none is (for /readyz).
func (k *KeySet) Ready() error {
	if k.size.Load() > 0 {
		return nil
	}
	if err := k.lastErr.Load(); err != nil {
		return fmt.Errorf("no keys from the identity provider: %w", *err)
	}
	return errors.New("no keys from the identity provider yet")
}

// Len is how many keys the set holds.
func (k *KeySet) Len() int { return int(k.size.Load()) }

// Fetches counts the fetches so far (tests bound the refetches with it).
func (k *KeySet) Fetches() int64 { return k.fetches.Load() }

// Version moves whenever the held keys change.
func (k *KeySet) Version() uint64 { return k.version.Load() }

func sameKeys(a, b []jwkset.JWK) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ja, _ := json.Marshal(a[i].Marshal())
		jb, _ := json.Marshal(b[i].Marshal())
		if string(ja) != string(jb) {
			return false
		}
	}
	return true
}

// SameIssuer compares issuer URLs as providers write them: with or without
// a trailing slash.
func SameIssuer(a, b string) bool {
	return a != "" && strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}
