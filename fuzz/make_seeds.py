#!/usr/bin/env python3
"""Builds fuzz/seeds/ from real SDK traffic plus a few hand-written inputs.

The SDK traffic is the log of the SDK suite run with frame logging on:

    PALAVER_TEST_XMPP_LOG=1 node tests/sdk/run.mjs sqlite 2> sdk-wire.log
    python3 fuzz/make_seeds.py sdk-wire.log

Every frame a client wrote ('W') becomes part of the stream parser, WebSocket, SASL and extraParams seeds.
"""
import base64, hashlib, json, os, re, struct, sys

ROOT = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(ROOT, "seeds")
FRAME = re.compile(r"^\[([^\]]+) W \+\d+ms\] (<.*)$")


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    path = os.path.join(SEEDS, target)
    os.makedirs(path, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


def ws_frame(payload, opcode=1, fin=True, mask=b"\x12\x34\x56\x78"):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def shape(frame):
    """The frame's element structure without text or attribute values: distinct shapes only."""
    frame = re.sub(r'"[^"]*"', '""', frame)
    frame = re.sub(r"'[^']*'", "''", frame)
    return re.sub(r">[^<]+<", "><", frame)


def main(log):
    sessions = {}
    for line in open(log, encoding="utf-8", errors="replace"):
        m = FRAME.match(line.rstrip("\n"))
        if m:
            sessions.setdefault(m.group(1), []).append(m.group(2))
    shapes = {}
    for frames in sessions.values():
        for frame in frames:
            shapes.setdefault(shape(frame), frame)
    distinct = sorted(shapes.values(), key=len)
    print(f"{len(sessions)} client sessions, {len(distinct)} distinct frames", file=sys.stderr)

    header = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
    for i, frame in enumerate(distinct):
        # Odd control byte: WebSocket fragments; the rest of the byte picks the read size.
        write("stream_parser", bytes([1 | ((i * 14) % 256)]) + frame.encode())
        write("websocket", ws_frame(frame.encode()))
    # Whole sessions: as WebSocket fragments, and re-framed as one TCP stream (even control byte).
    for i, frames in enumerate(list(sessions.values())[:12]):
        body = [f for f in frames if not f.startswith(("<open", "<close"))]
        write("stream_parser", bytes([(i * 6 + 1) % 256]) + "".join(frames).encode())
        write("stream_parser", bytes([(i * 6) % 256]) + (header + "".join(body) + "</stream:stream>").encode())
        write("websocket", b"".join(ws_frame(f.encode()) for f in frames[:40]))
    # WebSocket framing variants: fragmented message, ping, binary, close.
    stanza = distinct[len(distinct) // 2].encode()
    half = len(stanza) // 2
    write("websocket", ws_frame(stanza[:half], fin=False) + ws_frame(b"", opcode=9) + ws_frame(stanza[half:], opcode=0))
    write("websocket", ws_frame(stanza, opcode=2) + ws_frame(struct.pack(">H", 1000), opcode=8))

    # SASL: the SDKs' PLAIN payloads, and SCRAM exchanges of the shape RFC 5802 gives.
    sasl = {}
    for frames in sessions.values():
        for frame in frames:
            m = re.search(r'mechanism="([A-Z0-9-]+)"[^>]*>([^<]*)<', frame)
            if m:
                mech = {"PLAIN": 0, "SCRAM-SHA-1": 1, "SCRAM-SHA-256": 2}.get(m.group(1))
                if mech is not None:
                    payload = base64.b64decode(m.group(2) + "==")
                    sasl.setdefault((mech, len(payload)), bytes([mech]) + payload)
    for seed in list(sasl.values())[:24]:
        write("sasl", seed)
    write("sasl", b"\x00\x005-1\x00secret")
    write("sasl", b"\x005-1@chat.example\x005-1\x00secret")
    write("sasl", b"\x01n,,n=5-1,r=fyko+d2lbbFgONRv9qkxdawL\xffc=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
    write("sasl", b"\x02n,,n=5-1,r=rOprNGfwEbeRWgbNEkqO\xffc=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    write("sasl", b"\x01n,a=5-1@chat.example,n=5-1,r=abc\xff\xff")
    write("sasl", b"\x02y,,n=5=2C1,r=x\xffc=eSws,r=x,p=")

    # extraParams: every one the SDKs sent, and JSON objects as the REST API and SDKs build them.
    extra = {}
    for frames in sessions.values():
        for frame in frames:
            for m in re.finditer(r"<extraParams.*?</extraParams>", frame):
                extra.setdefault(shape(m.group(0)), m.group(0))
    for seed in extra.values():
        write("extra_params", seed)
    for obj in [
        {"save_to_history": 1, "dialog_id": "5f1a2b3c4d5e6f7a8b9c0d1e", "attachments": [{"id": "1", "type": "image", "url": "https://x/y.png"}]},
        {"customParam": "x", "nested": {"a": "1", "b": {"c": "2"}}, "list": [1, 2], "flag": True, "n": 3.5},
        {"attachments": [{"uid": "abc", "size": 10}, "not an object", {"bad key": "v", "ok": None}]},
        {"weird-key": "v", "1digit": "v", "x:y": "v", "": "empty", "e": ""},
    ]:
        write("extra_params", json.dumps(obj))

    # REST parameters: control byte (method, content type), query, 0xFF, body.
    rest = [
        (0, b"limit=50&skip=0&sort_desc=date_sent&chat_dialog_id=5f1a2b3c4d5e6f7a8b9c0d1e", b""),
        (0, b"type[in]=2%2C3&updated_at[gt]=1700000000&id[in][]=1&id[in][]=2&name[ctn]=team", b""),
        (0, b"filter[]=number%20id%20in%201%2C2&order=desc%20date%20created_at&per_page=10&page=1", b""),
        (1, b"", b'{"application_id":1,"auth_key":"k","timestamp":1700000000,"nonce":42,"signature":"abc","user":{"login":"alice","password":"pw"}}'),
        (1, b"", b'{"type":2,"name":"Team","occupants_ids":[5,6,7],"photo":null,"data":{"class_name":"x","a":1}}'),
        (2, b"", b'{"push_all":{"occupants_ids":[8]},"pull_all":{"occupants_ids":[5]},"name":"New"}'),
        (3, b"force=1", b"force=1&chat_dialog_ids=a%2Cb"),
        (5, b"", b"user[login]=bob&user[password]=pw&user[tag_list]=a,b"),
        (1, b"", b'{"message":"hi","chat_dialog_id":"x","send_to_chat":1,"markable":"1","attachments":[{"id":1}]}'),
        (2, b"read=1", b'{"read":1,"chat_dialog_id":"x"}'),
        (1, b"", b"[1,2,3]"),
        (1, b"", b"{not json"),
    ]
    for control, query, body in rest:
        write("rest_params", bytes([control]) + query + b"\xff" + body)


if __name__ == "__main__":
    main(sys.argv[1])
