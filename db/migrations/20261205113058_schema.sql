-- Modify "role_assignments" table
ALTER TABLE "role_assignments" ADD COLUMN "expires_at" timestamptz NULL, ADD COLUMN "expire_logged" boolean NOT NULL DEFAULT false;
-- Create index "role_pending_expiry" to table: "role_assignments"
CREATE INDEX "role_pending_expiry" ON "role_assignments" ("expires_at") WHERE ((expires_at IS NOT NULL) AND (NOT expire_logged));
-- Modify "scope_assignments" table
ALTER TABLE "scope_assignments" ADD COLUMN "expires_at" timestamptz NULL, ADD COLUMN "expire_logged" boolean NOT NULL DEFAULT false;
-- Create index "scope_pending_expiry" to table: "scope_assignments"
CREATE INDEX "scope_pending_expiry" ON "scope_assignments" ("expires_at") WHERE ((expires_at IS NOT NULL) AND (NOT expire_logged));
