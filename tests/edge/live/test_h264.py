"""H.264 for RTP: packets of an MP4 (length-prefixed, avcC) and of an Annex B stream become
Annex B access units with SPS/PPS before each key frame, which a decoder that starts at that key
frame decodes (FFmpeg's, through PyAV, on the bundled footage)."""

from __future__ import annotations

from pathlib import Path

import av

from edge.live.h264 import NAL_IDR, NAL_PPS, NAL_SPS, AnnexB, nal_types, parse_avcc

CLIP = Path(__file__).resolve().parents[3] / "samples" / "vtest-walkway.mp4"


def mp4_packets(n: int) -> tuple[bytes, list[tuple[bytes, bool]]]:
    with av.open(str(CLIP)) as container:
        stream = container.streams.video[0]
        extradata = bytes(stream.codec_context.extradata)
        out = [(bytes(p), p.is_keyframe) for p in container.demux(stream) if p.size]
        return extradata, out[:n]


def decoded(units: list[bytes]) -> int:
    ctx = av.CodecContext.create("h264", "r")
    frames = 0
    for unit in units:
        try:
            frames += len(ctx.decode(av.Packet(unit)))
        except av.error.InvalidDataError:
            continue  # refused (no parameter sets yet)
    frames += len(ctx.decode(None))
    return frames


def test_avcc_packets_become_annexb_that_decodes_from_the_key_frame() -> None:
    extradata, packets = mp4_packets(30)
    assert extradata[0] == 1  # an avcC record
    length_size, params = parse_avcc(extradata)
    assert length_size == 4 and nal_types(params) == {NAL_SPS, NAL_PPS}
    conv = AnnexB(extradata)
    units = [conv.convert(data, key) for data, key in packets]
    assert packets[0][1] and {NAL_SPS, NAL_PPS, NAL_IDR} <= nal_types(units[0])
    assert all(u.startswith(b"\x00\x00\x00\x01") for u in units)
    assert decoded(units) == len(units)  # every frame, from the first key frame on


def test_annexb_without_parameter_sets_gets_them_from_the_extradata() -> None:
    """An RTSP camera's key frames often carry no SPS/PPS (they are in the SDP: FFmpeg's extradata)."""
    extradata, packets = mp4_packets(10)
    _, params = parse_avcc(extradata)
    to_annexb = AnnexB(extradata)
    bare = [to_annexb._to_annexb(data) for data, _ in packets]  # Annex B, no parameter sets in band
    assert NAL_SPS not in nal_types(bare[0])
    assert decoded(bare) == 0  # a decoder cannot start without them
    conv = AnnexB(params)  # Annex B extradata, as FFmpeg gives for RTSP
    units = [conv.convert(data, key) for data, (_, key) in zip(bare, packets, strict=True)]
    assert units[0].startswith(params) and units[1] == bare[1]  # only key frames get them
    assert decoded(units) == len(units)
    again = conv.convert(units[0], True)
    assert again == units[0]  # in band already: not added twice


def test_a_truncated_packet_does_not_raise() -> None:
    extradata, packets = mp4_packets(1)
    conv = AnnexB(extradata)
    assert conv.convert(packets[0][0][:7], True).startswith(b"\x00\x00\x00\x01")
    assert AnnexB(None).convert(b"\x00\x00\x01\x09\xf0", False) == b"\x00\x00\x01\x09\xf0"
