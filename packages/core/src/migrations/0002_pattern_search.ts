/**
 * Full-text search over patterns. SQLite: an FTS5 table over name, description and content,
 * kept in step by triggers. PostgreSQL: the `search` column stemmed with the english
 * configuration (0001 indexed names with 'simple' only, so "refactoring" in a name did not
 * match a search for "refactor"), plus the name as written ('simple'), so that a search for
 * an exact name made of stop words ("up-to-date") still finds it.
 */
export const sqlite = `
CREATE VIRTUAL TABLE patterns_fts USING fts5(name, description, content, content='patterns', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER patterns_fts_insert AFTER INSERT ON patterns BEGIN
  INSERT INTO patterns_fts(rowid, name, description, content) VALUES (new.rowid, new.name, new.description, new.content);
END;
CREATE TRIGGER patterns_fts_delete AFTER DELETE ON patterns BEGIN
  INSERT INTO patterns_fts(patterns_fts, rowid, name, description, content) VALUES ('delete', old.rowid, old.name, old.description, old.content);
END;
CREATE TRIGGER patterns_fts_update AFTER UPDATE OF name, description, content ON patterns BEGIN
  INSERT INTO patterns_fts(patterns_fts, rowid, name, description, content) VALUES ('delete', old.rowid, old.name, old.description, old.content);
  INSERT INTO patterns_fts(rowid, name, description, content) VALUES (new.rowid, new.name, new.description, new.content);
END;
INSERT INTO patterns_fts(patterns_fts) VALUES ('rebuild')
`

export const pg = `
DROP INDEX patterns_search;
ALTER TABLE patterns DROP COLUMN search;
ALTER TABLE patterns ADD COLUMN search tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('simple', name), 'A') ||
  setweight(to_tsvector('english', regexp_replace(name, '[-_]', ' ', 'g')), 'A') ||
  setweight(to_tsvector('english', description), 'B') ||
  setweight(to_tsvector('english', left(content, 262144)), 'C')
) STORED;
CREATE INDEX patterns_search ON patterns USING GIN (search);
CREATE INDEX patterns_team_category ON patterns(team_id, category) WHERE deleted_at IS NULL
`
