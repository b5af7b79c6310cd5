-- The references that the batching writer's multi-row statements check are checked at commit instead of
-- at the end of each statement. SQLite undoes a statement that breaks an immediate reference (or an
-- ABORT constraint) on its own, so before running one that writes many rows it copies every page the
-- statement changes into a statement journal: 13 % of the writer's thread in 1-1 chat with history.
-- The writer never needs that: a batch whose statement fails is rolled back whole and retried write by
-- write (crates/store/src/writer.rs). With these references deferred and the statements written
-- `OR FAIL` (crates/store/src/bind.rs), SQLite keeps no statement journal for them; a broken reference
-- still fails the commit, and deletes still cascade at once.
--
-- Deferral is only in the tables' declarations: the file's format does not change, so the declarations
-- are edited in place (SQLite's documented way to change a constraint without rebuilding a table), the
-- connection rereads them (RESET), and a table made and dropped moves the schema's version on, so that
-- other connections reread them too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
    SET sql = replace(sql, 'ON DELETE CASCADE', 'ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED')
    WHERE type = 'table' AND name IN ('dialogs', 'dialog_occupants', 'messages');
PRAGMA writable_schema = RESET;
CREATE TABLE schema_version_step (x);
DROP TABLE schema_version_step;
