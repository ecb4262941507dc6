#!/usr/bin/env python3
# Sends what an attacker on the internet could aim at a hub's uplink: OSPF hellos of the sites' area,
# BFD control packets, VXLAN frames, a TCP SYN to a closed port and junk to the WireGuard port.
# Usage: inject.py DST COUNT   (run as root, inside a lab namespace)
import socket, struct, sys

dst, count = sys.argv[1], int(sys.argv[2])

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff

def ospf_hello(router_id, area):
    hello = struct.pack('!4sHBBI4s4s', socket.inet_aton('255.255.255.248'), 1, 0x02, 1, 4, b'\0' * 4, b'\0' * 4)
    hdr = struct.pack('!BBH4s4sHH8s', 2, 1, 24 + len(hello), socket.inet_aton(router_id), socket.inet_aton(area), 0, 0, b'\0' * 8)
    pkt = hdr + hello
    c = csum(pkt[:16] + pkt[24:])
    return pkt[:12] + struct.pack('!H', c) + pkt[14:]

def bfd_control(discr):
    # version 1, state Down, detect mult 3, 24 bytes, desired tx / required rx 100 ms
    return struct.pack('!BBBBIIIII', 0x20, 0x40, 3, 24, discr, 0, 100000, 100000, 0)

ospf = socket.socket(socket.AF_INET, socket.SOCK_RAW, 89)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(('0.0.0.0', 49999))
for i in range(count):
    ospf.sendto(ospf_hello('203.0.113.66', '0.0.0.1'), (dst, 0))
    udp.sendto(bfd_control(0x1000 + i), (dst, 3784))
    udp.sendto(bytes([0x08, 0, 0, 0, 0, 0, 1, 0]) + b'\xff' * 14 + b'\x08\x00' + b'\0' * 28, (dst, 4789))
    udp.sendto(b'junk that is not a WireGuard message', (dst, 51820))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setblocking(False)
    try:
        t.connect((dst, 8080))
    except BlockingIOError:
        pass
    t.close()
print('sent', count)
