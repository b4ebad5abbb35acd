"""MPEG-1 Layer III frames as segment-parallel encoding needs them (pure, bytes in and out).

An MP3 frame's main data does not sit in its own frame: it starts up to 511 bytes back, in the
unused tail of earlier frames (the bit reservoir, ``main_data_begin``). Frames from separate
encodes therefore cannot simply be concatenated. This module parses a LAME stream into frames
that each own their main data (``parse``), packs any sequence of such frames back into a valid
stream (``pack``: main data placed as early as the reservoir allows, a frame's bitrate raised
when its data does not fit otherwise), and writes the Xing/LAME header frame that tells decoders
the frame count, the seek table and how many samples to trim at each end (``info_frame``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property

SAMPLES_PER_FRAME = 1152  # MPEG-1 Layer III: two granules of 576
DECODER_DELAY = 529  # samples every ISO decoder adds; the LAME tag's delay does not count them
MAX_BACK = 511  # main_data_begin is 9 bits
BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)  # kbit/s by index
RATES = (44100, 48000, 32000)  # Hz by index
MONO = 3  # the channel mode of a single channel
XING_FLAGS = 0x0F  # frames, bytes, TOC and quality present
XING_SIZE = 120  # tag, flags, frames, bytes, 100-entry TOC, quality
LAME_SIZE = 36  # the LAME extension after the Xing fields
LAME_VERSION = b"LAME3.100"  # mutagen honours the delay and padding only after a "LAME" version
ID3V2_HEADER = 10
CRC_FOLD = 32767  # 0x8005 is (x+1)(x^15+x+1), x^15+x+1 primitive: x^32767 is 1 modulo it
CHANNEL_BITS = 59  # side info per granule and channel


class Mp3Error(ValueError):
    """The bytes are not an MPEG-1 Layer III stream this module can take apart or put together."""


@dataclass(frozen=True)
class Header:
    """The 4-byte frame header."""

    raw: bytes

    @classmethod
    def read(cls, data: bytes | memoryview, at: int) -> Header | None:
        """The header at ``at`` when it is MPEG-1 Layer III with a usable bitrate and rate."""
        if at + 4 > len(data):
            return None
        raw = bytes(data[at : at + 4])
        b1, b2 = raw[1], raw[2]
        if raw[0] != 0xFF or b1 & 0xFE != 0xFA:  # sync, MPEG-1, Layer III
            return None
        if not 0 < b2 >> 4 < 15 or (b2 >> 2) & 3 == 3:  # free format, bad bitrate, reserved rate
            return None
        return _interned(raw)

    @property
    def protected(self) -> bool:
        return not self.raw[1] & 1

    @property
    def bitrate_index(self) -> int:
        return self.raw[2] >> 4

    @property
    def rate(self) -> int:
        return RATES[(self.raw[2] >> 2) & 3]

    @property
    def padding(self) -> bool:
        return bool(self.raw[2] & 2)

    @property
    def mode(self) -> int:
        return self.raw[3] >> 6

    @cached_property
    def channels(self) -> int:
        return 1 if self.mode == MONO else 2

    @cached_property
    def size(self) -> int:
        return 144000 * BITRATES[self.bitrate_index] // self.rate + int(self.padding)

    @cached_property
    def side_size(self) -> int:
        return 17 if self.channels == 1 else 32

    @cached_property
    def main_offset(self) -> int:
        """Where the frame's main-data area starts, from the header's first byte."""
        return 4 + 2 * int(self.protected) + self.side_size

    @cached_property
    def main_size(self) -> int:
        return self.size - self.main_offset

    def with_bitrate(self, index: int) -> Header:
        """This header at another bitrate, without the padding byte (a VBR frame needs none)."""
        b2 = (index << 4) | (self.raw[2] & 0x0C) | (self.raw[2] & 1)
        return Header(bytes((self.raw[0], self.raw[1], b2, self.raw[3])))


@cache
def _interned(raw: bytes) -> Header:
    """One Header per distinct 4 bytes: a stream has a handful, and its sizes are then computed once."""
    return Header(raw)


@dataclass(frozen=True)
class Channel:
    """One granule of one channel in the side info (ISO 11172-3, 2.4.1.7)."""

    part2_3_length: int
    big_values: int
    global_gain: int
    scalefac_compress: int
    window_switching: bool
    block_type: int
    mixed_block: bool
    table_select: tuple[int, ...]  # 3 for long blocks, 2 when window switching
    subblock_gain: tuple[int, ...]  # 3 when window switching
    region0_count: int
    region1_count: int
    preflag: int
    scalefac_scale: int
    count1table_select: int


@dataclass(frozen=True)
class SideInfo:
    main_data_begin: int
    private_bits: int
    scfsi: tuple[int, ...]  # per channel, 4 bits
    granules: tuple[tuple[Channel, ...], tuple[Channel, ...]]

    @property
    def main_bits(self) -> int:
        return sum(c.part2_3_length for granule in self.granules for c in granule)

    @property
    def main_bytes(self) -> int:
        return (self.main_bits + 7) // 8


@dataclass(frozen=True)
class Frame:
    """A frame with its own main data (``main``: the whole bytes its granules read); the side
    info stays raw bytes (``read_side`` parses it), since a joiner needs only two of its fields."""

    header: Header
    side: bytes
    main: bytes

    @property
    def main_data_begin(self) -> int:
        return (self.side[0] << 1) | (self.side[1] >> 7)


@dataclass(frozen=True)
class Tag:
    """What the Xing/LAME header frame of an encode says (``settings``: the LAME tag's encoder
    fields, copied into a joined file's tag)."""

    frames: int | None
    delay: int
    padding: int
    quality: int
    settings: bytes


@dataclass(frozen=True)
class Stream:
    frames: list[Frame]
    tag: Tag | None


def parse(data: bytes) -> Stream:
    """The audio frames of an MP3 (after any ID3v2 tag), each with its main data taken out of
    the reservoir; the Xing/LAME header frame, when the first frame is one, as ``tag``."""
    view = memoryview(data)
    raw = list(_raw_frames(view, id3v2_size(data)))
    if not raw:
        raise Mp3Error("no MPEG-1 Layer III frame found")
    tag = read_tag(view, raw[0][0], raw[0][1])
    if tag is not None:
        raw = raw[1:]
    return Stream(frames=unpack(view, raw), tag=tag)


def id3v2_size(data: bytes) -> int:
    """Bytes of the ID3v2 tag at the start (0 when there is none)."""
    if len(data) < ID3V2_HEADER or data[:3] != b"ID3":
        return 0
    size = 0
    for byte in data[6:10]:
        size = (size << 7) | (byte & 0x7F)  # syncsafe
    footer = ID3V2_HEADER if data[5] & 0x10 else 0
    return ID3V2_HEADER + size + footer


def unpack(data: memoryview, raw: Sequence[tuple[int, Header]]) -> list[Frame]:
    """Each frame's main data, read where ``main_data_begin`` says it starts."""
    areas = bytearray()
    starts = []
    for at, header in raw:
        starts.append(len(areas))
        areas += data[at + header.main_offset : at + header.size]
    frames = []
    for (at, header), area_start in zip(raw, starts, strict=True):
        side = bytes(data[at + header.main_offset - header.side_size : at + header.main_offset])
        begin = area_start - ((side[0] << 1) | (side[1] >> 7))
        end = begin + (main_bits(side, header.channels) + 7) // 8
        if begin < 0 or end > area_start + header.main_size:
            raise Mp3Error(f"the frame at byte {at} points its main data outside the stream")
        frames.append(Frame(header, side, bytes(areas[begin:end])))
    return frames


def pack(frames: Sequence[Frame]) -> list[bytes]:
    """The frames as a valid stream: each frame's main data starts as early as the reservoir
    allows (at most 511 bytes back, after the previous frame's) and ends within its own frame;
    a frame whose data cannot end there is raised to the smallest bitrate where it can."""
    areas = bytearray()
    placed: list[tuple[Header, bytes, int]] = []
    end = 0  # where the previous frame's main data ends, in the areas
    for frame in frames:
        header, start = frame.header, len(areas)
        back = min(MAX_BACK, start - end)
        while start - back + len(frame.main) > start + header.main_size:
            header = _next_bitrate(header)
        areas += bytes(header.main_size)
        areas[start - back : start - back + len(frame.main)] = frame.main
        placed.append((header, with_main_data_begin(frame.side, back), start))
        end = start - back + len(frame.main)
    return [
        _frame_bytes(header, side, bytes(areas[start : start + header.main_size]))
        for header, side, start in placed
    ]


def info_frame(audio: Sequence[bytes], delay: int, padding: int, template: Tag | None = None) -> bytes:
    """The Xing/LAME header frame for these packed audio frames: "Info" when every frame has the
    same bitrate (CBR), else "Xing"; the frame count, the byte count (header frame included), the
    100-entry seek table, the encoder delay and end padding, the music CRC and the tag's CRC."""
    headers = [_header_of(frame) for frame in audio]
    first = headers[0]
    cbr = len({h.bitrate_index for h in headers}) == 1
    header = _info_header(first, XING_SIZE + LAME_SIZE)
    size = header.size
    total = size + sum(len(frame) for frame in audio)
    xing = (b"Info" if cbr else b"Xing") + struct.pack(">III", XING_FLAGS, len(audio), total)
    xing += seek_table(audio, size, total) + struct.pack(">I", template.quality if template else 0)
    settings = template.settings if template else _default_settings(cbr)
    lame = LAME_VERSION + settings[:12] + (delay << 12 | padding).to_bytes(3, "big")
    lame += settings[12:16] + struct.pack(">IH", total, crc16(b"".join(audio)))
    body = header.raw + bytes(header.side_size) + xing + lame
    body += struct.pack(">H", crc16(body))
    return body + bytes(size - len(body))


def seek_table(audio: Sequence[bytes], offset: int, total: int) -> bytes:
    """The Xing TOC: for each percent of the duration, the byte position (in 256ths of the file)
    of the frame that starts it."""
    positions = [offset]
    for frame in audio[:-1]:
        positions.append(positions[-1] + len(frame))
    count = len(audio)
    return bytes(min(255, positions[i * count // 100] * 256 // total) for i in range(100))


def read_tag(data: memoryview | bytes, at: int, header: Header) -> Tag | None:
    """The Xing/Info (and LAME) fields of the frame at ``at``; None for an audio frame."""
    xing = at + 4 + 2 * int(header.protected) + header.side_size
    if bytes(data[xing : xing + 4]) not in (b"Xing", b"Info"):
        return None
    flags = int.from_bytes(data[xing + 4 : xing + 8], "big")
    pos = xing + 8
    frames = None
    if flags & 1:
        frames = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
    pos += 4 * bool(flags & 2) + 100 * bool(flags & 4)
    quality = int.from_bytes(data[pos : pos + 4], "big") if flags & 8 else 0
    pos += 4 * bool(flags & 8)
    lame = bytes(data[pos : pos + LAME_SIZE])
    if len(lame) < LAME_SIZE or lame[:4] not in (b"LAME", b"Lavc", b"Lavf", b"L3.9"):
        return Tag(frames, 0, 0, quality, _default_settings(bytes(data[xing : xing + 4]) == b"Info"))
    both = int.from_bytes(lame[21:24], "big")
    return Tag(frames, both >> 12, both & 0xFFF, quality, lame[9:21] + lame[24:28])


def main_bits(side: bytes, channels: int) -> int:
    """The sum of the side info's part2_3_length fields: the bits of the frame's main data."""
    value, total = int.from_bytes(side, "big"), 8 * len(side)
    first = 9 + (5 if channels == 1 else 3) + 4 * channels  # main_data_begin, private bits, scfsi
    return sum((value >> (total - first - k * CHANNEL_BITS - 12)) & 0xFFF for k in range(2 * channels))


def with_main_data_begin(side: bytes, begin: int) -> bytes:
    return bytes((begin >> 1, (begin & 1) << 7 | (side[1] & 0x7F))) + side[2:]


def read_side(raw: bytes, header: Header) -> SideInfo:
    bits = _Bits(raw)
    channels = header.channels
    begin = bits.read(9)
    private = bits.read(5 if channels == 1 else 3)
    scfsi = tuple(bits.read(4) for _ in range(channels))
    granules = tuple(tuple(_read_channel(bits) for _ in range(channels)) for _ in range(2))
    return SideInfo(begin, private, scfsi, (granules[0], granules[1]))


def write_side(side: SideInfo, header: Header) -> bytes:
    bits = _BitWriter()
    bits.write(side.main_data_begin, 9)
    bits.write(side.private_bits, 5 if header.channels == 1 else 3)
    for value in side.scfsi:
        bits.write(value, 4)
    for granule in side.granules:
        for channel in granule:
            _write_channel(bits, channel)
    return bits.getvalue()


def crc16(data: bytes) -> int:
    """CRC-16/ARC (reflected 0x8005, initial 0): the LAME tag's music and tag CRCs. An hour of MP3
    is 80 MB, 8 s a byte at a time in Python: its CRC is taken of the data folded to CRC_FOLD bytes."""
    crc = 0
    for byte in _fold(data) if len(data) > CRC_FOLD else data:
        crc = _ARC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def frame_crc(header: Header, side: bytes) -> int:
    """The CRC a protected frame carries: CRC-16 (0x8005, initial 0xFFFF) of the header's last two
    bytes and the side info."""
    crc = 0xFFFF
    for byte in header.raw[2:] + side:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def _build_arc_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_ARC_TABLE = _build_arc_table()


def _fold(data: bytes) -> bytes:
    """``data`` XOR-folded into CRC_FOLD bytes, blocks aligned at its end: the same CRC, since the
    CRC is the data's remainder modulo the polynomial and x^(8 * CRC_FOLD) leaves 1 there (a CRC
    from initial 0 does not see leading zero bytes)."""
    value = 0
    for stop in range(len(data), 0, -CRC_FOLD):
        value ^= int.from_bytes(data[max(0, stop - CRC_FOLD) : stop], "big")
    return value.to_bytes(CRC_FOLD, "big")


def _raw_frames(data: memoryview, at: int) -> Iterator[tuple[int, Header]]:
    """(offset, header) of each frame from ``at`` until the first byte that does not start one."""
    header = Header.read(data, at)
    while header is None and at < len(data) and at < 64 * 1024:  # stray bytes before the first frame
        at += 1
        header = Header.read(data, at)
    while header is not None and at + header.size <= len(data):
        yield at, header
        at += header.size
        header = Header.read(data, at)


def _next_bitrate(header: Header) -> Header:
    if header.bitrate_index + 1 >= len(BITRATES):
        raise Mp3Error("a frame's main data does not fit even at 320 kbit/s")
    return header.with_bitrate(header.bitrate_index + 1)


def _frame_bytes(header: Header, side: bytes, main: bytes) -> bytes:
    crc = struct.pack(">H", frame_crc(header, side)) if header.protected else b""
    return header.raw + crc + side + main


def _header_of(frame: bytes) -> Header:
    header = Header.read(frame, 0)
    if header is None:
        raise Mp3Error("not an MPEG-1 Layer III frame")
    return header


def _info_header(audio: Header, payload: int) -> Header:
    """An unprotected header like the audio's, at the audio's bitrate when the tag fits in such a
    frame (as LAME writes a CBR file's), else at the smallest bitrate where it does."""
    header = Header(bytes((0xFF, 0xFB, audio.raw[2] & 0x0C, audio.raw[3])))  # no CRC, no padding
    indexes = [audio.bitrate_index, *range(1, len(BITRATES))]
    for index in indexes:
        candidate = header.with_bitrate(index)
        if candidate.main_size >= payload:
            return candidate
    raise Mp3Error("no bitrate holds the Xing/LAME tag")


def _default_settings(cbr: bool) -> bytes:
    """LAME tag fields when no encode's tag is at hand: revision 0, CBR (1) or VBR (4) method,
    the rest unknown (zero)."""
    return bytes((1 if cbr else 4,)) + bytes(15)


def _read_channel(bits: _Bits) -> Channel:
    length, big, gain, compress = bits.read(12), bits.read(9), bits.read(8), bits.read(4)
    switching = bool(bits.read(1))
    tables: tuple[int, ...]
    gains: tuple[int, ...] = ()
    block_type, mixed, region0, region1 = 0, False, 0, 0
    if switching:
        block_type, mixed = bits.read(2), bool(bits.read(1))
        tables = (bits.read(5), bits.read(5))
        gains = (bits.read(3), bits.read(3), bits.read(3))
    else:
        tables = (bits.read(5), bits.read(5), bits.read(5))
        region0, region1 = bits.read(4), bits.read(3)
    preflag, scale, count1 = bits.read(1), bits.read(1), bits.read(1)
    return Channel(
        length, big, gain, compress, switching, block_type, mixed, tables, gains, region0, region1,
        preflag, scale, count1,
    )  # fmt: skip


def _write_channel(bits: _BitWriter, c: Channel) -> None:
    for value, width in ((c.part2_3_length, 12), (c.big_values, 9), (c.global_gain, 8)):
        bits.write(value, width)
    bits.write(c.scalefac_compress, 4)
    bits.write(int(c.window_switching), 1)
    if c.window_switching:
        bits.write(c.block_type, 2)
        bits.write(int(c.mixed_block), 1)
        for value in c.table_select:
            bits.write(value, 5)
        for value in c.subblock_gain:
            bits.write(value, 3)
    else:
        for value in c.table_select:
            bits.write(value, 5)
        bits.write(c.region0_count, 4)
        bits.write(c.region1_count, 3)
    for value in (c.preflag, c.scalefac_scale, c.count1table_select):
        bits.write(value, 1)


class _Bits:
    """MSB-first reader over a few bytes (the side info)."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = 8 * len(data)

    def read(self, width: int) -> int:
        self._left -= width
        if self._left < 0:
            raise Mp3Error("side info shorter than its fields")
        return (self._value >> self._left) & ((1 << width) - 1)


class _BitWriter:
    def __init__(self) -> None:
        self._value = 0
        self._bits = 0

    def write(self, value: int, width: int) -> None:
        self._value = (self._value << width) | (value & ((1 << width) - 1))
        self._bits += width

    def getvalue(self) -> bytes:
        pad = -self._bits % 8
        return (self._value << pad).to_bytes((self._bits + pad) // 8, "big")
