// Package chaos checks histories of operations recorded while faults were
// injected (the randomized fault test, chaos_test.go): every read against
// the writes acknowledged before it began (stale reads), every answer
// against itself (torn answers), and reads against each other (what a
// client may see while a write is in flight).
//
// Each user's access is one register: whether the user holds one grant,
// toggled by one writer at a time (a user's writes never overlap), so a
// read may return the value of the last write acknowledged before it
// began, or of a write in flight during it, and nothing else.
package chaos

import (
	"slices"
	"time"
)

// Op is one recorded operation on one user's register.
type Op struct {
	Write    bool      `json:"write"`
	User     int       `json:"user"`
	Call     time.Time `json:"call"`
	Return   time.Time `json:"return"`
	Value    bool      `json:"value"` // written, or read
	OK       bool      `json:"ok"`    // acknowledged (a write), answered (a read)
	Torn     bool      `json:"torn"`  // the answer disagreed with itself
	Instance int       `json:"instance"`
	Doc      string    `json:"doc"`
}

// Report is what Check found.
type Report struct {
	Reads, Writes             int // answered reads, acknowledged writes
	FailedReads, FailedWrites int
	// Unjudged are answered reads that followed a failed write (its
	// effect unknown) before the next acknowledged one.
	Unjudged int
	Stale    []Op
	Torn     []Op
	// Unordered counts reads that returned an older value than a read of
	// the same user that had returned before they began, while the write
	// between them was in flight (not linearizable, not stale);
	// LongestUnordered is the longest such span.
	Unordered        int
	LongestUnordered time.Duration
}

// Check judges a history. initial is each user's value before any write.
func Check(ops []Op, initial map[int]bool) Report {
	var r Report
	byUser := map[int][]Op{}
	for _, op := range ops {
		byUser[op.User] = append(byUser[op.User], op)
		switch {
		case op.Write && op.OK:
			r.Writes++
		case op.Write:
			r.FailedWrites++
		case op.OK:
			r.Reads++
			if op.Torn {
				r.Torn = append(r.Torn, op)
			}
		default:
			r.FailedReads++
		}
	}
	for user, uops := range byUser {
		var writes, reads []Op
		for _, op := range uops {
			switch {
			case op.Write:
				writes = append(writes, op)
			case op.OK:
				reads = append(reads, op)
			}
		}
		slices.SortFunc(writes, func(a, b Op) int { return a.Call.Compare(b.Call) })
		slices.SortFunc(reads, func(a, b Op) int { return a.Call.Compare(b.Call) })
		for _, read := range reads {
			allowed, judged := allowedValues(writes, initial[user], read)
			switch {
			case !judged:
				r.Unjudged++
			case !slices.Contains(allowed, read.Value):
				r.Stale = append(r.Stale, read)
			}
		}
		unordered, longest := unorderedReads(writes, reads)
		r.Unordered += unordered
		r.LongestUnordered = max(r.LongestUnordered, longest)
	}
	return r
}

// allowedValues are the values read may return: the last acknowledged
// write's before it began, and those of the writes in flight during it.
// judged is false when a failed write (whose effect is unknown) came
// after that last acknowledged one and began before the read ended.
func allowedValues(writes []Op, initial bool, read Op) (allowed []bool, judged bool) {
	last, lastAt := initial, -1
	for i, w := range writes {
		if w.OK && w.Return.Before(read.Call) {
			last, lastAt = w.Value, i
		}
	}
	// The writes after it began after it returned (a user's writes are
	// sequential); those that began before the read ended were in flight.
	allowed = []bool{last}
	for _, w := range writes[lastAt+1:] {
		if !w.Call.Before(read.Return) {
			break
		}
		if !w.OK {
			return nil, false
		}
		allowed = append(allowed, w.Value)
	}
	return allowed, true
}

// unorderedReads counts, for each acknowledged write, the reads that
// began after a read that already returned its new value, yet returned
// the old one, both during the write.
func unorderedReads(writes, reads []Op) (count int, longest time.Duration) {
	for _, w := range writes {
		if !w.OK {
			continue
		}
		var firstNew time.Time
		for _, rd := range reads {
			if rd.Call.Before(w.Call) || rd.Return.After(w.Return) {
				continue // not within the write
			}
			if rd.Value == w.Value && (firstNew.IsZero() || rd.Return.Before(firstNew)) {
				firstNew = rd.Return
			}
		}
		if firstNew.IsZero() {
			continue
		}
		for _, rd := range reads {
			if rd.Call.After(firstNew) && !rd.Return.After(w.Return) && rd.Value != w.Value {
				count++
				longest = max(longest, rd.Call.Sub(firstNew))
			}
		}
	}
	return count, longest
}
