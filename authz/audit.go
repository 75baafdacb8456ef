package authz

import (
	"time"

	"authz-gateway/ent"
	"authz-gateway/ent/accesschange"
	"authz-gateway/ent/accesschangeuser"

	entsql "entgo.io/ent/dialect/sql"
)

// AccessChanges queries the log, for the audit trail: the entries that
// affected userID (if set), made at or after since (if set). The privacy
// rules narrow it to what the viewer may read.
func (s *Service) AccessChanges(userID *int, since *time.Time) *ent.AccessChangeQuery {
	q := s.db.AccessChange.Query()
	if userID != nil {
		q.Where(func(sel *entsql.Selector) {
			t := entsql.Table(accesschangeuser.Table)
			sel.Where(entsql.In(sel.C(accesschange.FieldID),
				entsql.Select(t.C(accesschangeuser.FieldChangeID)).From(t).
					Where(entsql.EQ(t.C(accesschangeuser.FieldUserID), *userID))))
		})
	}
	if since != nil {
		q.Where(accesschange.CreatedAtGTE(*since))
	}
	return q
}
