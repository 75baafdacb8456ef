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
	allowed := expectAllowed(true, `{"me":{"can":true}}`)
	denied := expectAllowed(false, `{"me":{"can":true}}`)
	notFound := answerOf(t, `{"errors":[{"message":"program or project not found","extensions":{"code":"NOT_FOUND"}}],"data":{"me":null}}`)
	yes := answerOf(t, `{"data":{"me":{"can":true}}}`)
	no := answerOf(t, `{"data":{"me":{"can":false}}}`)

	assert.NoError(t, allowed(yes))
	assert.Error(t, allowed(no), "a wrong deny")
	assert.Error(t, allowed(notFound), "a wrong deny")
	assert.NoError(t, denied(notFound))
	assert.Error(t, denied(yes), "a wrong allow")

	lookup := expectProjects(2, func(p int) bool { return p == 7 || p == 9 })
	assert.NoError(t, lookup(answerOf(t, `{"data":{"me":{"accessibleProjects":[{"id":"9"},{"id":"7"}]}}}`)))
	assert.Error(t, lookup(answerOf(t, `{"data":{"me":{"accessibleProjects":[{"id":"7"}]}}}`)), "one missing")
	assert.Error(t, lookup(answerOf(t, `{"data":{"me":{"accessibleProjects":[{"id":"7"},{"id":"8"}]}}}`)), "a wrong one")
}
