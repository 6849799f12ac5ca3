"""Eight conversations at once through one chat service: no cross-talk between them, the
video cache within its bounds the whole time, and no files left once they are closed."""

from __future__ import annotations

import threading
import time
import zipfile

from videolisa.chat.events import TurnDone
from videolisa.chat.service import ChatService
from videolisa.chat.settings import TurnSettings
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.video import read_video

FORCED = TurnSettings(EncodeSettings(4, 1), always_mask=True)
USERS = 8
MAX_ENTRIES = 3


def test_eight_conversations_share_a_bounded_cache(golden_pipeline, square_video, tmp_path):
    shapes = [(3 + index, 32 + 8 * index, 48 + 4 * index) for index in range(USERS)]
    videos = [square_video(f"user{i}.mp4", *shape) for i, shape in enumerate(shapes)]
    one_video_bytes = 4 * 2**20  # far above what one of these small encoded videos takes
    service = ChatService(
        golden_pipeline,
        workdir_root=tmp_path / "chats",
        max_memory_bytes=MAX_ENTRIES * one_video_bytes,
        max_cached_videos=MAX_ENTRIES,
    )
    cache = service.videos.cache
    conversations = [service.conversations.open() for _ in videos]
    results: dict[int, object] = {}
    observed: list[tuple[int, int]] = []
    running = threading.Event()
    running.set()

    def user(index: int) -> None:
        conversations[index].attach(videos[index])
        events = service.run_turn(conversations[index], "Where is the square?", FORCED)
        results[index] = list(events)[-1]

    def watch() -> None:
        while running.is_set():
            observed.append((len(cache), cache.total_bytes))
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=user, args=(index,)) for index in range(USERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    running.clear()
    watcher.join()

    assert max(entries for entries, _ in observed) <= MAX_ENTRIES
    assert max(size for _, size in observed) <= cache.max_bytes
    for index, (count, height, width) in enumerate(shapes):
        done = results[index]
        assert isinstance(done, TurnDone)
        assert done.overlay.parent.parent == conversations[index].workdir
        assert read_video(done.overlay).frames.shape == (count, height, width, 3)
        with zipfile.ZipFile(done.masks_zip) as archive:
            masks = [name for name in archive.namelist() if name.startswith("masks/0/")]
        assert len(masks) == count
    for conversation in conversations:
        conversation.close()
    assert list((tmp_path / "chats").iterdir()) == []
