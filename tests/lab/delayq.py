# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Added latency without netem: hold queued packets for a fixed time, then accept them.

This machine's kernel has no sch_netem (nor prio, nor nft's `queue`), but it has
NFQUEUE as an xtables target. So the lab's latency knob sends the chosen packets
to a netfilter queue with `iptables -j NFQUEUE`, and this process, running in the
same network namespace, gives each one its ACCEPT verdict `ms` later. A constant
delay keeps packet order. Run: `python -m tests.lab.delayq --queue N --ms 50`.
"""

from __future__ import annotations

import argparse
import heapq
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2


def _attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _msg(msg: int, queue: int, attrs: bytes, seq: int, flags: int = NLM_F_REQUEST) -> bytes:
    body = struct.pack("BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg, flags, seq, 0) + body


def _attrs(data: bytes) -> dict[int, bytes]:
    out, i = {}, 0
    while i + 4 <= len(data):
        length, kind = struct.unpack_from("HH", data, i)
        if length < 4:
            break
        out[kind & 0x7FFF] = data[i + 4:i + length]
        i += (length + 3) & ~3
    return out


def serve(queue: int, delay: float) -> None:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.send(_msg(NFQNL_MSG_CONFIG, queue,
                   _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, socket.AF_INET)), 1,
                   NLM_F_REQUEST | NLM_F_ACK))
    sock.send(_msg(NFQNL_MSG_CONFIG, queue,
                   _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)), 2,
                   NLM_F_REQUEST | NLM_F_ACK))
    pending: list[tuple[float, int]] = []
    seq = 3
    print(f"delayq: queue {queue}, {delay * 1000:.0f} ms", flush=True)
    while True:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
        ready = select.select([sock], [], [], timeout)[0]
        if ready:
            data = sock.recv(65536)
            i = 0
            while i + 16 <= len(data):
                length, kind = struct.unpack_from("IH", data, i)
                if kind == NLMSG_ERROR:
                    err = struct.unpack_from("i", data, i + 16)[0]
                    if err:
                        sys.exit(f"delayq: netlink error {err}")
                elif kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    attrs = _attrs(data[i + 20:i + length])
                    packet_id = struct.unpack("!I", attrs[NFQA_PACKET_HDR][:4])[0]
                    heapq.heappush(pending, (time.monotonic() + delay, packet_id))
                i += (length + 3) & ~3
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            packet_id = heapq.heappop(pending)[1]
            sock.send(_msg(NFQNL_MSG_VERDICT, queue,
                           _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id)), seq))
            seq += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queue", type=int, required=True)
    ap.add_argument("--ms", type=float, required=True)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
    serve(args.queue, args.ms / 1000.0)


if __name__ == "__main__":
    main()
