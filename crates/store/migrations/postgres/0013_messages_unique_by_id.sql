-- A message's uniqueness is checked through an index led by its id instead of its dialog: ids are
-- ObjectIds, which grow with time, so new messages land at the end of that index instead of on a page
-- of their dialog's somewhere in the middle, and the same index serves lookups by id, so the separate
-- index on id goes.
CREATE UNIQUE INDEX messages_id_dialog_sender ON messages (id, dialog_id, sender_id);
ALTER TABLE messages DROP CONSTRAINT messages_dialog_id_sender_id_id_key;
DROP INDEX messages_id;
