#!/usr/bin/env python3
"""Fills a stopped Palaver's embedded database with private dialogs and chat history for the rest-read
benchmark (a store of 10 million messages is set up in minutes, where sending them would take hours).

usage: bench-rest-seed.py DATABASE APP_ID USERS_JSONL [--dialogs N] [--messages N]

USERS_JSONL is what `palaver user import` prints. Dialogs pair the users round-robin (user i with user
i+1+k), so every user has dialogs. The history is skewed the way real apps are: 1 % of the dialogs hold
half of the messages, the rest share the other half. Rows are what the server itself writes: the dialog,
both occupants, the messages, and each dialog's last message.
"""
import argparse
import json
import os
import sqlite3
import sys
import time


def object_id(seconds, counter):
    return f"{seconds & 0xffffffff:08x}a1b2c3d4e5{counter & 0xffffff:06x}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("app_id", type=int)
    parser.add_argument("users")
    parser.add_argument("--dialogs", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=10_000_000)
    args = parser.parse_args()

    with open(args.users) as f:
        users = [json.loads(line)["id"] for line in f if line.strip()]
    if len(users) < 2:
        sys.exit("need at least two users")
    db = sqlite3.connect(args.database)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    app = args.app_id
    now_s = int(time.time())
    start_s = now_s - args.messages  # one message a second, up to now
    big = max(1, args.dialogs // 100)
    per_big = (args.messages // 2) // big
    small = max(1, args.dialogs - big)
    per_small, extra = divmod(args.messages - per_big * big, small)
    pairs, seen = [], set()
    n, k = len(users), 0
    while len(pairs) < args.dialogs:
        for i in range(n):
            a, b = users[i], users[(i + 1 + k) % n]
            key = (min(a, b), max(a, b))
            if a != b and key not in seen:
                seen.add(key)
                pairs.append((a, b))
                if len(pairs) == args.dialogs:
                    break
        k += 1
        if k >= n:
            sys.exit(f"{n} users make fewer than {args.dialogs} pairs")

    counter = 0
    t0 = time.time()
    clock = start_s
    for d, (a, b) in enumerate(pairs):
        # The small dialogs share the rest evenly; the first `extra` of them take one more each.
        count = per_big if d < big else per_small + (1 if d - big < extra else 0)
        counter += 1
        dialog_id = object_id(start_s, counter)
        created_ms = start_s * 1000
        rows = []
        for m in range(count):
            counter += 1
            clock += 1
            sender, recipient = (a, b) if m % 2 == 0 else (b, a)
            rows.append((object_id(clock, counter), app, dialog_id, sender, recipient,
                         f"message {m} of dialog {d}", clock, clock * 1000, clock * 1000))
        last = rows[-1] if rows else None
        db.execute(
            "INSERT INTO dialogs (id, app_id, type, user_id, private_key, last_message, last_message_id, "
            "last_message_user_id, last_message_date_sent, created_at, updated_at) "
            "VALUES (?, ?, 3, ?, ?, ?, ?, ?, ?, ?, ?)",
            (dialog_id, app, a, f"{app}:{min(a, b)}:{max(a, b)}",
             last[5] if last else None, last[0] if last else None, last[3] if last else None,
             last[6] if last else None, created_ms, last[7] if last else created_ms))
        db.executemany("INSERT INTO dialog_occupants (dialog_id, user_id, joined_at) VALUES (?, ?, ?)",
                       [(dialog_id, a, created_ms), (dialog_id, b, created_ms)])
        db.executemany(
            "INSERT INTO messages (id, app_id, dialog_id, sender_id, recipient_id, body, date_sent, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if d % 1000 == 999:
            db.commit()
            print(f"\r{d + 1} dialogs, {counter - d - 1} messages, {time.time() - t0:.0f} s",
                  end="", file=sys.stderr)
    db.commit()
    total = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    print(f"\n{len(pairs)} dialogs, {total} messages in {time.time() - t0:.0f} s, "
          f"{os.path.getsize(args.database) >> 20} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
