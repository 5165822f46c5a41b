package ratelimit

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/portico-dev/portico/internal/httpapi"
)

// Response headers, in canonical form so that they are set without
// canonicalising on every request.
const (
	headerLimit      = "X-Ratelimit-Limit"     // X-RateLimit-Limit
	headerRemaining  = "X-Ratelimit-Remaining" // X-RateLimit-Remaining
	headerReset      = "X-Ratelimit-Reset"     // X-RateLimit-Reset
	headerPolicy     = "Ratelimit-Policy"      // RateLimit-Policy
	headerRateLimit  = "Ratelimit"             // RateLimit
	headerRetryAfter = "Retry-After"
)

// Middleware limits requests by the Limiter's policies. A request no
// policy covers passes untouched. A covered request gets, whether it
// passes or not:
//
//   - X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (Unix
//     seconds when the bucket is full again) for the covering policy
//     nearest its limit, or the one that denied it;
//   - RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers)
//     listing every covering policy: `"auth";q=20;w=60` and
//     `"auth";r=19;t=3`, with w and t in seconds.
//
// A denial is 429 with Retry-After (whole seconds until the bucket holds a
// token, from its actual deficit) and a JSON error with code "rate_limited"
// naming the policy. In dry-run mode the request passes instead. When the
// Store fails, the request passes (logged) unless Config.FailClosed, which
// answers 503.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := l.getScratch()
		now := l.now()
		denied, err := l.check(r, sc, now)
		if err != nil {
			l.putScratch(sc)
			l.log.ErrorContext(r.Context(), "ratelimit: the store failed", "err", err)
			if l.cfg.FailClosed {
				httpapi.WriteError(w, http.StatusServiceUnavailable, "rate_limit_unavailable", "rate limiting is unavailable; try again later")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if len(sc.hits) == 0 {
			l.putScratch(sc)
			next.ServeHTTP(w, r)
			return
		}
		d, gov := l.decide(sc, denied)
		retry := l.setHeaders(w.Header(), sc, d, gov, now)
		l.putScratch(sc)
		switch {
		case d.Allowed:
			next.ServeHTTP(w, r)
		case l.cfg.DryRun:
			l.log.DebugContext(r.Context(), "ratelimit: dry run: over the limit", "policy", d.Policy, "path", r.URL.Path)
			next.ServeHTTP(w, r)
		default:
			httpapi.WriteError(w, http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("too many requests: rate limit %q exceeded; retry in %d s", d.Policy, retry))
		}
	})
}

// setHeaders writes the rate-limit headers of a check and returns the
// Retry-After seconds of a denial. The values that change per request are
// formatted into one buffer and converted to one string, which the headers
// share; with the array of value slices that is two allocations.
// govIndex is the index in sc of d's policy.
func (l *Limiter) setHeaders(h http.Header, sc *scratch, d Decision, govIndex int, now time.Time) (retry int64) {
	gov := sc.pols[govIndex]
	if !d.Allowed {
		retry = max(ceilSeconds(d.RetryAfter), 1)
	}

	// b holds: remaining | reset | RateLimit | RateLimit-Policy (several
	// policies only) | Retry-After (denials only).
	var ends [5]int
	b := strconv.AppendInt(sc.buf[:0], int64(d.Remaining), 10)
	ends[0] = len(b)
	b = strconv.AppendInt(b, ceilUnix(now.Add(d.Reset)), 10)
	ends[1] = len(b)
	for i, p := range sc.pols {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, p.quotedName...)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, int64(sc.levels[i].Remaining), 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, ceilSeconds(sc.levels[i].Reset), 10)
	}
	ends[2] = len(b)
	if len(sc.pols) > 1 {
		for i, p := range sc.pols {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, p.policyItem...)
		}
	}
	ends[3] = len(b)
	if retry > 0 {
		b = strconv.AppendInt(b, retry, 10)
	}
	ends[4] = len(b)
	sc.buf = b
	all := string(b)
	part := func(i int) string {
		if i == 0 {
			return all[:ends[0]]
		}
		return all[ends[i-1]:ends[i]]
	}

	vals := new([6]string) // one allocation for every header's value slice
	set := func(i int, name, v string) {
		vals[i] = v
		h[name] = vals[i : i+1 : i+1]
	}
	set(0, headerLimit, gov.limitText)
	set(1, headerRemaining, part(0))
	set(2, headerReset, part(1))
	set(3, headerRateLimit, part(2))
	if len(sc.pols) > 1 {
		set(4, headerPolicy, part(3))
	} else {
		set(4, headerPolicy, gov.policyItem)
	}
	if retry > 0 {
		set(5, headerRetryAfter, part(4))
	}
	return retry
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// Handler serves GET /admin/ratelimit: the Limiter's Stats as JSON. It
// names policies and counts, never keys or addresses; mount it behind the
// host's admin authorization.
func (l *Limiter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/ratelimit", func(w http.ResponseWriter, r *http.Request) {
		s, err := l.Stats(r.Context())
		if err != nil {
			httpapi.Fail(w, r, l.log, http.StatusInternalServerError, "internal", "rate-limit statistics are unavailable", err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, s)
	})
	return httpapi.Mux(mux)
}
