package cache

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Refresh-ahead: a value read often is recomputed in the background shortly
// before it expires, so its readers never see the miss. The rule is XFetch
// ("Optimal Probabilistic Cache Stampede Prevention", Vattani, Chierichetti
// and Lowenstein, VLDB 2015): a read refreshes when
//
//	now + delta * beta * -ln(rand) >= expiry
//
// where delta is the time the value took to compute. Our values are cheap
// (a few ms), so delta is at least a tenth of the TTL: otherwise only a read
// in the last milliseconds could trigger it, and the refresh would not land
// before the expiry. With a 1 h TTL a key read every minute or more often is
// refreshed in its last ten minutes or so; one read less often expires.
// The chance grows as expiry nears and with the rate of reads; a key read
// rarely just expires. A refresh obeys the freshness protocol like any fill:
// it is stamped with the generation tokens read before computing (those of
// the read that triggered it), so a change committed meanwhile makes it
// invisible, and it joins the batch singleflight (one refresh per key and
// generation per process).

// refreshBeta is XFetch's beta: above 1 refreshes earlier.
const refreshBeta = 1.0

// expiresSoon is the XFetch decision for a valid envelope.
func (c *Cache) expiresSoon(k Key, env Envelope) bool {
	if c.cfg.NoRefreshAhead || env.Exp == 0 || env.End != 0 {
		// A value with an end of its own is not refreshed ahead: a refresh
		// holds only until the same end (a read never extends it), and the
		// first read after the end recomputes anyway.
		return false
	}
	delta := max(time.Duration(env.Cost)*time.Microsecond, c.cfg.TTL[k.Kind]/10)
	r := 1 - rand.Float64() // (0, 1]
	ahead := time.Duration(float64(delta) * refreshBeta * -math.Log(r))
	return time.Now().Add(ahead).UnixMilli() >= env.Exp
}

// refreshAhead recomputes keys in the background (those no other
// computation of this process has in hand already), stamped with stamps.
func (c *Cache) refreshAhead(ctx context.Context, keys []Key, stamps map[Key]string, compute ComputeFunc) {
	lead, _ := c.flights.join(keys, stamps)
	if len(lead) == 0 {
		return
	}
	c.metrics.refreshes.Add(uint64(len(lead)))
	// The request may end before the refresh does: keep its values (the
	// computation needs none of its deadlines), bounded by its own timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	go func() {
		defer cancel()
		if _, err := c.computeAndSave(ctx, lead, stamps, compute); err != nil {
			c.refreshWarn.Do(func() { c.cfg.Logger.Warn("cache: refresh-ahead failed", "keys", len(lead), "err", err) })
		}
	}()
}
