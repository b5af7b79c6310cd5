-- One index fewer for each new dialog: a pair's first message writes its private dialog, so every index
-- on dialogs is paid for by every new pair. Dialogs are looked up by app and type only for broadcast
-- dialogs (every user of the app reads them); the index no longer holds the others.
DROP INDEX dialogs_app;
CREATE INDEX dialogs_broadcast ON dialogs (app_id) WHERE type = 1;
