package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func answerOf(t *testing.T, raw string) answer {
	var a answer
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// The load tool counts a wrong allow or deny as an error, not a success.
func TestVerify_WrongAnswersAreErrors(t *testing.T) {
	// read: node(id) answers the object, or NOT_FOUND out of reach.
	allowed := expectAllowed(true, `{"node":{"id":"7"}}`)
	denied := expectAllowed(false, `{"node":{"id":"7"}}`)
	notFound := answerOf(t, `{"errors":[{"message":"program or project not found","extensions":{"code":"NOT_FOUND"}}],"data":{"node":null}}`)
	found := answerOf(t, `{"data":{"node":{"id":"7"}}}`)
	assert.NoError(t, allowed(found))
	assert.Error(t, allowed(notFound), "a wrong deny")
	assert.NoError(t, denied(notFound))
	assert.Error(t, denied(found), "a wrong allow")

	// check: a self-check answers true or false, never an error.
	yes := answerOf(t, `{"data":{"me":{"can":true}}}`)
	no := answerOf(t, `{"data":{"me":{"can":false}}}`)
	canTrue, canFalse := expectData(`{"me":{"can":true}}`), expectData(`{"me":{"can":false}}`)
	assert.NoError(t, canTrue(yes))
	assert.Error(t, canTrue(no), "a wrong deny")
	assert.NoError(t, canFalse(no))
	assert.Error(t, canFalse(yes), "a wrong allow")
	assert.Error(t, canFalse(notFound), "an error where false is the answer")

	lookup := expectProjects(2, func(p int) bool { return p == 7 || p == 9 })
	assert.NoError(t, lookup(answerOf(t, `{"data":{"me":{"accessibleProjectIds":["9","7"]}}}`)))
	assert.Error(t, lookup(answerOf(t, `{"data":{"me":{"accessibleProjectIds":["7"]}}}`)), "one missing")
	assert.Error(t, lookup(answerOf(t, `{"data":{"me":{"accessibleProjectIds":["7","8"]}}}`)), "a wrong one")
}
