"""The frame pipeline's CPU savings change no number: ToTensor, the loader's thread cap, the
mask PNGs and the id map give the same values as before (issue 12, "a data pipeline that keeps
a GPU busy"; the speed itself is measured by `benchmarks/bench_run.py --pipeline`)."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from m3vos.data.masks import DAVIS_PALETTE, encode_mask, read_mask
from m3vos.runner.video import IdMap
from m3vos.runner.writer import PngWriter


def _mask(h: int = 120, w: int = 200) -> np.ndarray:
    """Blobs with ragged borders and a void band, like a real annotation."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w]
    ids = np.zeros((h, w), np.uint8)
    ids[(yy - 40) ** 2 + (xx - 60) ** 2 < 900] = 1
    ids[(yy - 70) ** 2 / 2 + (xx - 140) ** 2 < 1200] = 2
    edge = rng.random((h, w)) < 0.03
    ids[edge] = rng.integers(0, 3, int(edge.sum()))
    ids[:, 95:98] = 255
    return ids


def test_mask_pngs_keep_every_pixel_and_are_no_bigger_than_pillows_default(tmp_path):
    ids = _mask()
    data = encode_mask(ids)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "P" and bytes(im.getpalette() or [])[:768] == DAVIS_PALETTE
        assert np.array_equal(np.asarray(im), ids)
    (tmp_path / "m.png").write_bytes(data)
    assert np.array_equal(read_mask(tmp_path / "m.png"), ids)
    # what encode_mask wrote before (Pillow's default zlib settings)
    im = Image.fromarray(ids, mode="P")
    im.putpalette(DAVIS_PALETTE)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    assert len(data) <= len(buf.getvalue())


def test_the_png_writer_writes_the_ids_it_was_given(tmp_path):
    frames = {f"{t:05d}": np.roll(_mask(), 7 * t, axis=1) for t in range(4)}
    writer = PngWriter(tmp_path, DAVIS_PALETTE)
    for stem, ids in frames.items():
        writer.put(stem, ids)
    writer.put("00001", frames["00003"])  # a re-emitted frame: the last write wins
    writer.close()
    frames["00001"] = frames["00003"]
    for stem, ids in frames.items():
        assert np.array_equal(read_mask(tmp_path / f"{stem}.png"), ids), stem
    assert writer.sizes["00000"] == (tmp_path / "00000.png").stat().st_size


def test_id_maps_go_back_to_dataset_ids_as_new_arrays():
    labels = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    same = IdMap([1, 2]).to_dataset(labels)
    assert np.array_equal(same, labels) and same.dtype == np.uint8
    assert not np.shares_memory(same, labels)  # the PNG writer reads it in another thread
    assert IdMap([3, 7]).to_dataset(labels).tolist() == [[0, 3, 7], [7, 3, 0]]
    assert IdMap([2, 1]).to_dataset(labels).tolist() == [[0, 2, 1], [1, 2, 0]]


def test_to_tensor_gives_torchs_bits_for_every_byte_value():
    torch = pytest.importorskip("torch")
    from m3vos.trackers.cutie import eval_io

    rgb = np.stack([np.arange(256, dtype=np.uint8).reshape(16, 16),
                    np.arange(255, -1, -1, dtype=np.uint8).reshape(16, 16),
                    np.full((16, 16), 128, np.uint8)], axis=-1)
    ours = eval_io.image_to_tensor(rgb)
    theirs = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div(255)  # torchvision ToTensor
    assert ours.dtype == torch.float32 and ours.shape == (3, 16, 16) and ours.is_contiguous()
    assert torch.equal(ours.view(torch.int32), theirs.contiguous().view(torch.int32))


def test_the_loader_thread_resizes_with_one_thread_and_the_same_bits():
    torch = pytest.importorskip("torch")
    from m3vos.trackers.base import VideoInput
    from m3vos.trackers.cutie import eval_io
    from m3vos.trackers.cutie.frames import EvalFrames

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (500, 700, 3), dtype=np.uint8) for _ in range(4)]
    video = VideoInput(name="v", frames=frames, masks={0: np.zeros((500, 700), np.uint8)}, object_ids=[],
                       size=(500, 700))
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the tests run with OMP_NUM_THREADS=1: give the model thread two
    try:
        seen: list[int] = []  # the loader thread's intra-op threads
        with EvalFrames(video, 480, torch.device("cpu")) as ef:
            images = [ef.image(t) for t in range(4)]
            ef.frames._pool.submit(lambda: seen.append(torch.get_num_threads())).result()
            assert seen == [1] and threading.current_thread().name == "MainThread"
            assert torch.get_num_threads() == 2  # the model's thread keeps its own
        fresh: list[int] = []
        t = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
        t.start()
        t.join()
        assert fresh == [2]  # closing restored the default of threads started later
        for frame, image in zip(frames, images):  # resized in the model's thread, with 2 threads
            assert image.shape == (3, 480, 672)
            assert torch.equal(image, eval_io.resize_image(eval_io.image_to_tensor(frame), 480))
    finally:
        torch.set_num_threads(before)


def test_prefetcher_runs_its_init_once_in_the_loader_thread():
    from m3vos.utils.prefetch import Prefetcher

    inits: list[str] = []
    loads: list[str] = []

    def load(i: int) -> int:
        loads.append(threading.current_thread().name)
        return i

    with Prefetcher(load, 6, depth=2, init=lambda: inits.append(threading.current_thread().name)) as p:
        assert [p.get(i) for i in range(6)] == list(range(6))
    assert len(inits) == 1 and set(loads) == set(inits) and inits[0].startswith("m3vos-prefetch")


def test_prefetch_in_several_threads_returns_every_frame_by_index_and_stays_bounded(tmp_path):
    """Two loader threads reading one FrameSequence at once: the same frames, in order, from
    threads that each decoded some, with no more than `depth` frames in flight."""
    import time

    from m3vos.data.dataset import open_dataset
    from m3vos.data.synth import make_synthetic_dataset
    from m3vos.runner.video import FrameSequence, VideoSource
    from m3vos.utils.prefetch import Prefetcher

    root = make_synthetic_dataset(tmp_path / "ds", videos=1, frames=12, height=48, width=64)
    video = next(iter(open_dataset(root)))
    src = VideoSource.from_video(video)
    expected = [np.asarray(Image.open(p).convert("RGB")) for p in src.frame_paths or []]
    frames = FrameSequence(src, src.size)
    threads: set[str] = set()
    in_flight: list[int] = []
    running = [0]
    lock = threading.Lock()

    def load(i: int) -> np.ndarray:
        with lock:
            running[0] += 1
            in_flight.append(running[0])
            threads.add(threading.current_thread().name)
        time.sleep(0.01)  # long enough for the other thread to start the next frame
        try:
            return frames[i]
        finally:
            with lock:
                running[0] -= 1

    try:
        with Prefetcher(load, len(frames), depth=3, keep=2, workers=2) as p:
            got = [p.get(i) for i in range(len(frames))]
            assert len(p.pending) <= 3 and len(p.cache) <= 2
            assert p.get(len(frames) - 2) is got[-2]  # from the kept window
            assert p.loads == len(frames)
    finally:
        frames.close()
    assert len(got) == len(expected) == 12
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))
    assert len(threads) == 2 and max(in_flight) == 2  # both threads loaded, concurrently
    assert len(frames._cache) <= 4  # the sequence's own cache stays bounded too
