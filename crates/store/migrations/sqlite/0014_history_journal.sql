-- How far the database has taken in history's journal (crates/store/src/journal.rs): the number of the
-- last journaled message committed, written by the same transaction that commits it. After a crash the
-- server replays the journal's lines past it.
CREATE TABLE history_journal (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    applied_seq BIGINT  NOT NULL
);
INSERT INTO history_journal (id, applied_seq) VALUES (1, 0);
