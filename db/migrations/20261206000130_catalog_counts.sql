-- The catalog's counts (catalog_counts: row 0 the programs, projects and
-- users, a program's row its projects), kept by statement triggers in the
-- transaction of every write, whoever makes it, so that no request counts a
-- table. Written by hand (ent and Atlas's diff manage tables, not
-- triggers); db.Migrate runs this file too, so every PostgreSQL database
-- has them. Every catalog write locks row 0 before any program's row:
-- concurrent writers queue there and never deadlock. One transaction (the
-- migration runner does not open one): writers wait for the lock, and the
-- count at the end sees exactly the rows written before the triggers.
BEGIN;
LOCK TABLE "programs", "projects", "users" IN SHARE MODE;
-- Programs and users: a count each in row 0 (the column is the table's name).
CREATE OR REPLACE FUNCTION catalog_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT count(*) INTO n FROM added;
  ELSE
    SELECT -count(*) INTO n FROM removed;
  END IF;
  IF n <> 0 THEN
    EXECUTE format('UPDATE catalog_counts SET %1$I = %1$I + $1 WHERE id = 0', TG_TABLE_NAME) USING n;
  END IF;
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'programs' THEN
    DELETE FROM catalog_counts WHERE id IN (SELECT id FROM removed);
  END IF;
  RETURN NULL;
END $$;
-- Projects: row 0 and the row of each program they are in.
CREATE OR REPLACE FUNCTION catalog_count_projects() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE catalog_counts SET projects = projects + (SELECT count(*) FROM added) WHERE id = 0;
    INSERT INTO catalog_counts AS c (id, projects)
      SELECT program_id, count(*) FROM added GROUP BY program_id ORDER BY program_id
      ON CONFLICT (id) DO UPDATE SET projects = c.projects + excluded.projects;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE catalog_counts SET projects = projects - (SELECT count(*) FROM removed) WHERE id = 0;
    INSERT INTO catalog_counts AS c (id, projects)
      SELECT program_id, -count(*) FROM removed GROUP BY program_id ORDER BY program_id
      ON CONFLICT (id) DO UPDATE SET projects = c.projects + excluded.projects;
  ELSIF EXISTS (SELECT 1 FROM added a JOIN removed r ON r.id = a.id WHERE r.program_id <> a.program_id) THEN
    -- UPDATE that moved projects to another program.
    PERFORM 1 FROM catalog_counts WHERE id = 0 FOR UPDATE;
    INSERT INTO catalog_counts AS c (id, projects)
      SELECT program_id, sum(n) FROM (
        SELECT program_id, 1 AS n FROM added UNION ALL SELECT program_id, -1 FROM removed) AS moved
      GROUP BY program_id HAVING sum(n) <> 0 ORDER BY program_id
      ON CONFLICT (id) DO UPDATE SET projects = c.projects + excluded.projects;
  END IF;
  RETURN NULL;
END $$;
-- TRUNCATE empties a table without row events.
CREATE OR REPLACE FUNCTION catalog_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('UPDATE catalog_counts SET %1$I = 0 WHERE id = 0', TG_TABLE_NAME);
  IF TG_TABLE_NAME IN ('programs', 'projects') THEN
    DELETE FROM catalog_counts WHERE id > 0;
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS catalog_count_insert ON "programs";
CREATE TRIGGER catalog_count_insert AFTER INSERT ON "programs" REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_rows();
DROP TRIGGER IF EXISTS catalog_count_delete ON "programs";
CREATE TRIGGER catalog_count_delete AFTER DELETE ON "programs" REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_rows();
DROP TRIGGER IF EXISTS catalog_count_truncate ON "programs";
CREATE TRIGGER catalog_count_truncate AFTER TRUNCATE ON "programs" FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_truncated();
DROP TRIGGER IF EXISTS catalog_count_insert ON "users";
CREATE TRIGGER catalog_count_insert AFTER INSERT ON "users" REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_rows();
DROP TRIGGER IF EXISTS catalog_count_delete ON "users";
CREATE TRIGGER catalog_count_delete AFTER DELETE ON "users" REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_rows();
DROP TRIGGER IF EXISTS catalog_count_truncate ON "users";
CREATE TRIGGER catalog_count_truncate AFTER TRUNCATE ON "users" FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_truncated();
DROP TRIGGER IF EXISTS catalog_count_insert ON "projects";
CREATE TRIGGER catalog_count_insert AFTER INSERT ON "projects" REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_projects();
DROP TRIGGER IF EXISTS catalog_count_delete ON "projects";
CREATE TRIGGER catalog_count_delete AFTER DELETE ON "projects" REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_projects();
DROP TRIGGER IF EXISTS catalog_count_update ON "projects";
CREATE TRIGGER catalog_count_update AFTER UPDATE ON "projects" REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_projects();
DROP TRIGGER IF EXISTS catalog_count_truncate ON "projects";
CREATE TRIGGER catalog_count_truncate AFTER TRUNCATE ON "projects" FOR EACH STATEMENT EXECUTE FUNCTION catalog_count_truncated();
-- What is there already, counted once, under the lock taken above.
INSERT INTO catalog_counts (id, programs, projects, users)
  VALUES (0, (SELECT count(*) FROM "programs"), (SELECT count(*) FROM "projects"), (SELECT count(*) FROM "users"))
  ON CONFLICT (id) DO UPDATE SET programs = excluded.programs, projects = excluded.projects, users = excluded.users;
DELETE FROM catalog_counts WHERE id > 0;
INSERT INTO catalog_counts (id, projects) SELECT program_id, count(*) FROM "projects" GROUP BY program_id;
COMMIT;
