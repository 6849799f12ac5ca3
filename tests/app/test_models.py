"""Which model the app loads: --model, then $VIDEOLISA_MODEL, then the bundled one, then a demo."""

from __future__ import annotations

from pathlib import Path

from videolisa.chat import models
from videolisa.chat.models import MODEL_ENV, ModelChoice, choose_model


def test_the_requested_model_comes_first(monkeypatch):
    monkeypatch.setenv(MODEL_ENV, "from/env")
    assert choose_model("from/flag") == ModelChoice("from/flag")
    assert choose_model(None) == ModelChoice("from/env")


def test_the_bundled_model_before_the_demo(monkeypatch, tmp_path):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    bundled = tmp_path / "videolisa-toy"
    bundled.mkdir()
    (bundled / "config.json").write_text("{}")
    monkeypatch.setattr(models, "DEFAULT_MODEL", bundled)
    assert choose_model(None) == ModelChoice(str(bundled))


def test_without_any_model_the_demo_is_untrained(monkeypatch, tmp_path):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setattr(models, "DEFAULT_MODEL", tmp_path / "missing")
    made: list[Path] = []

    def fake_demo(root: Path) -> Path:
        made.append(root)
        return root / models.DEMO_FOLDER

    monkeypatch.setattr(models, "demo_checkpoint", fake_demo)
    choice = choose_model(None, cache_root=tmp_path)
    assert choice == ModelChoice(str(tmp_path / "untrained-demo"), untrained=True)
    assert made == [tmp_path]


def test_demo_sentences_cover_questions_and_track_answers():
    sentences = models.demo_sentences(samples_per_kind=2)
    assert any("<TRK>" in sentence for sentence in sentences)
    assert any(sentence.startswith("Rule:") for sentence in sentences)


def test_the_bundled_models_card_gives_its_size_on_disk(monkeypatch, tmp_path):
    bundled = tmp_path / "videolisa-toy"
    (bundled / "vision_tower").mkdir(parents=True)
    (bundled / "model.safetensors").write_bytes(b"\0" * 2_600_000)
    (bundled / "vision_tower" / "model.safetensors").write_bytes(b"\0" * 1_000_000)
    monkeypatch.setattr(models, "DEFAULT_MODEL", bundled)
    card = models.model_card(ModelChoice(str(bundled)), "float32", "cpu")
    assert "toy-world model (4 MB)" in card and "knows coloured shapes" in card
