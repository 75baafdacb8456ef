package auth

import (
	"testing"
	"time"
)

// BenchmarkVerify: what one token's verification costs, first seen
// (HS256, RS256 with the provider's 2048-bit key) and remembered (either).
func BenchmarkVerify(b *testing.B) {
	p := newProvider(b)
	rs := rsaKey(b, "rs")
	p.keys = []signingKey{rs}
	v := p.verifiers(ClaimEmail)
	own, err := v.Own.Issue(7, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	issuer := sign(b, rs, p.claims())
	for _, c := range []struct {
		name   string
		verify func(string) (Identity, error)
		token  string
	}{
		{"own-HS256/first", v.Own.Verify, own},
		{"issuer-RS256/first", v.Issuer.Verify, issuer},
		{"own-HS256/remembered", v.Verify, own},
		{"issuer-RS256/remembered", v.Verify, issuer},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.verify(c.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
