package cache

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Envelope is the JSON stored under each key: the generation stamp the value
// was computed under, and the value.
type Envelope struct {
	Gen  string          `json:"gen"`
	Data json.RawMessage `json:"data"`
	// Exp is when the value expires (Unix ms) and Cost how long it took to
	// compute (µs): refresh-ahead decides from them (refresh.go). Absent in
	// values written before it existed.
	Exp  int64 `json:"exp,omitempty"`
	Cost int64 `json:"cost,omitempty"`
	// End is when the value stops being true (Unix ms, the database's
	// clock; Computed.End): no read accepts it from then on.
	End int64 `json:"end,omitempty"`
}

// DecodeEnvelope parses a stored value. Anything that is not a well-formed
// envelope with a stamp and data is an error (and so a miss).
func DecodeEnvelope(raw []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return Envelope{}, fmt.Errorf("decode cache envelope: %w", err)
	}
	if env.Gen == "" || len(env.Data) == 0 {
		return Envelope{}, errors.New("decode cache envelope: missing generation or data")
	}
	return env, nil
}
