-- A dialog's row changes with every message (its last message and `updated_at`), and the index on
-- (app_id, updated_at) changed with it: about a tenth of the SQLite writer's work in 1-1 chat with
-- history. No listing needs it: a user's dialog list and dialog search start from the user's
-- memberships, and the search, planned over this index, walked every dialog of the application instead.
DROP INDEX dialogs_app_updated;
