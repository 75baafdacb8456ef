-- Create index "project_name" to table: "projects"
CREATE INDEX "project_name" ON "projects" ("name");
