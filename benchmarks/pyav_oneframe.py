"""One frame with PyAV alone, as a script of its own: the least a Python process that
decodes with PyAV pays for the job `benchmarks.oneframe` times (the interpreter,
`import av`, the container opened, the frame decoded, scaled and written as JPEG by
FFmpeg's encoder). No NumPy, no planning, no checks.

    python benchmarks/pyav_oneframe.py VIDEO SECONDS OUT.jpg
"""

import sys
from fractions import Fraction

import av


def main(video: str, seconds: str, out: str) -> None:
    with av.open(video) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        at = int(Fraction(seconds) / stream.time_base) + (stream.start_time or 0)
        container.seek(at, stream=stream, backward=True)
        frame = next(f for f in container.decode(stream) if f.pts is not None and f.pts >= at)
        height = round(frame.height * 480 / frame.width / 2) * 2  # as scale=480:-2
        picture = frame.reformat(width=480, height=height, format="yuvj420p")
        encoder = av.CodecContext.create("mjpeg", "w")
        encoder.width, encoder.height, encoder.pix_fmt = 480, height, "yuvj420p"
        encoder.time_base = Fraction(1, 25)
        packets = encoder.encode(picture) + encoder.encode(None)
    with open(out, "wb") as f:
        for packet in packets:
            f.write(bytes(packet))


if __name__ == "__main__":
    main(*sys.argv[1:4])
