"""H.264 access units in the Annex B form (start codes) that RTP packetizing splits into NAL
units, with the parameter sets (SPS, PPS) in front of every key frame, so a browser that joins at
a key frame can decode it.

Cameras over RTSP give Annex B already, often without in-band SPS/PPS (they sit in the SDP's
``sprop-parameter-sets``, which FFmpeg puts in the extradata). Files (MP4) give length-prefixed
NAL units and an ``avcC`` record.
"""

from __future__ import annotations

START = b"\x00\x00\x00\x01"
NAL_SPS, NAL_PPS, NAL_IDR, NAL_AUD = 7, 8, 5, 9


class AnnexB:
    """Converts one stream's packets; build a new one when the stream format changes."""

    def __init__(self, extradata: bytes | None) -> None:
        self.length_size = 0  # 0: packets are Annex B already
        self.param_sets = b""
        if extradata and extradata[0] == 1 and len(extradata) >= 7:
            self.length_size, self.param_sets = parse_avcc(extradata)
        elif extradata:
            self.param_sets = extradata if extradata.startswith((b"\x00\x00\x01", START)) else b""

    def convert(self, data: bytes, keyframe: bool) -> bytes:
        au = self._to_annexb(data) if self.length_size else data
        if not keyframe:
            return au
        # a key frame: SPS and PPS first (some servers put them after the IDR slices of the same
        # frame, or leave them out), access unit delimiters dropped (RTP needs none)
        nals = list(split_nals(au))
        params = [n for n in nals if n and n[0] & 0x1F in (NAL_SPS, NAL_PPS)]
        if not any(n[0] & 0x1F == NAL_SPS for n in params) and self.param_sets:
            params = list(split_nals(self.param_sets))
        rest = [n for n in nals if n and n[0] & 0x1F not in (NAL_SPS, NAL_PPS, NAL_AUD, 1, NAL_IDR)]
        # the slices in picture order (a depacketizer may hand over the top slice last)
        slices = sorted((n for n in nals if n and n[0] & 0x1F in (1, NAL_IDR)), key=first_mb)
        return b"".join(START + n for n in params + rest + slices)

    def _to_annexb(self, data: bytes) -> bytes:
        out = bytearray()
        i, n, size = 0, len(data), self.length_size
        while i + size <= n:
            length = int.from_bytes(data[i : i + size], "big")
            i += size
            if length <= 0 or i + length > n:
                break
            out += START + data[i : i + length]
            i += length
        return bytes(out)


def parse_avcc(extradata: bytes) -> tuple[int, bytes]:
    """(NAL length size, SPS and PPS as Annex B) of an ``avcC`` record (ISO 14496-15)."""
    length_size = (extradata[4] & 0x03) + 1
    out = bytearray()
    i = 5
    for count_mask in (0x1F, 0xFF):  # SPS count (5 bits), then PPS count
        if i >= len(extradata):
            break
        count = extradata[i] & count_mask
        i += 1
        for _ in range(count):
            if i + 2 > len(extradata):
                break
            size = int.from_bytes(extradata[i : i + 2], "big")
            i += 2
            out += START + extradata[i : i + size]
            i += size
    return length_size, bytes(out)


def first_mb(nal: bytes) -> int:
    """``first_mb_in_slice`` of a slice NAL unit: the first ue(v) of its header."""
    bits = int.from_bytes(nal[1:9].ljust(8, b"\x00"), "big")
    zeros = 0
    while zeros < 32 and not (bits >> (63 - zeros)) & 1:
        zeros += 1
    if zeros >= 32:
        return 0
    value = (bits >> (63 - 2 * zeros)) & ((1 << (zeros + 1)) - 1)
    return value - 1


def split_nals(au: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit, without their start codes."""
    out: list[bytes] = []
    starts: list[tuple[int, int]] = []  # (start code offset, payload offset)
    i = 0
    while True:
        i = au.find(b"\x00\x00\x01", i)
        if i == -1:
            break
        starts.append((i - 1 if i > 0 and au[i - 1] == 0 else i, i + 3))
        i += 3
    for k, (_, begin) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(au)
        if end > begin:
            out.append(au[begin:end])
    return out


def nal_types(au: bytes) -> set[int]:
    """The NAL unit types of an Annex B access unit."""
    types: set[int] = set()
    i = 0
    while True:
        i = au.find(b"\x00\x00\x01", i)
        if i == -1 or i + 3 >= len(au):
            return types
        types.add(au[i + 3] & 0x1F)
        i += 3
