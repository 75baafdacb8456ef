package identity

import (
	"context"
	"time"

	"authz-gateway/gate"
	"authz-gateway/ratelimit"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// The provisioning limits (AUTH_PROVISION): a new user costs a logged
// write and invalidates the catalog's answers for everyone, so unknown
// callers become users at a bounded pace: per client address (one a
// second after a burst of 10) and per identity provider (20 a second
// after a burst of 200), across all instances. 2,000 users from one
// address once took 19 s; now they take over half an hour.
var (
	ProvisionPerAddress = ratelimit.Limit{PerSecond: 1, Burst: 10}
	ProvisionPerIssuer  = ratelimit.Limit{PerSecond: 20, Burst: 200}
)

// Provisioning decides whether an unknown caller may be made a user now.
type Provisioning struct {
	perAddress, perIssuer *ratelimit.Limiter
	outcomes              *prometheus.CounterVec
}

// NewProvisioning returns the provisioning limits, shared through client
// (nil: per instance) under prefix.
func NewProvisioning(client redis.UniversalClient, prefix string, timeout time.Duration) *Provisioning {
	return &Provisioning{
		perAddress: ratelimit.New(client, prefix+"provision:ip:", ProvisionPerAddress, timeout),
		perIssuer:  ratelimit.New(client, prefix+"provision:issuer:", ProvisionPerIssuer, timeout),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_provisioning_total",
			Help: "Unknown callers of the identity provider asked to be provisioned, by outcome (allowed, rate_limited_address, rate_limited_issuer).",
		}, []string{"outcome"}),
	}
}

// Allow spends one provisioning of the address's budget and of the
// issuer's; a *gate.RateLimitError when either is spent.
func (p *Provisioning) Allow(ctx context.Context, issuer, clientIP string) error {
	if d := p.perAddress.Allow(ctx, clientIP); !d.Allowed {
		p.outcomes.WithLabelValues("rate_limited_address").Inc()
		return &gate.RateLimitError{RetryAfter: d.RetryAfter}
	}
	if d := p.perIssuer.Allow(ctx, issuer); !d.Allowed {
		p.outcomes.WithLabelValues("rate_limited_issuer").Inc()
		return &gate.RateLimitError{RetryAfter: d.RetryAfter}
	}
	p.outcomes.WithLabelValues("allowed").Inc()
	return nil
}

// Collector is the provisioning metric.
func (p *Provisioning) Collector() prometheus.Collector { return p.outcomes }
