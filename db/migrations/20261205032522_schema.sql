-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "external_id" character varying NULL;
-- Create index "users_external_id_key" to table: "users"
CREATE UNIQUE INDEX "users_external_id_key" ON "users" ("external_id");
