"""Sentence embeddings: lazy import, text-hash cache, embedding feature sets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prelabel.automl import AutoTextClassifier
from prelabel.automl import embeddings as emb_mod

needs_extra = pytest.mark.skipif(
    not emb_mod.embeddings_available(), reason="prelabel[embeddings] is not installed"
)


def test_importing_the_engine_does_not_import_torch() -> None:
    code = (
        "import sys, prelabel.automl; from prelabel.automl import AutoTextClassifier; "
        "AutoTextClassifier(time_budget=0).fit(['good day', 'bad day', 'nice day', 'awful day'], "
        "['p', 'n', 'p', 'n']); "
        "bad = [m for m in ('torch', 'sentence_transformers', 'optuna') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    res = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": src}, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr


@pytest.mark.embeddings
@needs_extra
def test_cache_never_encodes_a_text_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tweets: tuple[list[str], list[str]]
) -> None:
    texts = tweets[0][:6]
    first = emb_mod.embed(texts + texts[:2], tmp_path)  # duplicates are encoded once
    assert first.shape == (8, emb_mod.EMBEDDING_DIM)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    assert len(list((tmp_path / "embeddings").rglob("shard-*.npz"))) == 1
    # a fresh process: nothing in memory, everything on disk; the model must not be needed
    monkeypatch.setattr(emb_mod, "_memory", {})
    monkeypatch.setattr(emb_mod, "_loaded_shards", {})

    def no_model() -> None:
        raise AssertionError("a cached text was encoded again")

    monkeypatch.setattr(emb_mod, "_load_model", no_model)
    monkeypatch.setattr(emb_mod, "_encoders", {})  # an encoder another test loaded must not be used either
    again = emb_mod.embed(texts, tmp_path)
    np.testing.assert_allclose(again, first[:6])
    assert emb_mod.count_missing([*texts, "a text never seen"], tmp_path) == 1


@pytest.mark.embeddings
@needs_extra
def test_fit_with_embedding_feature_sets(tmp_path: Path, tweets: tuple[list[str], list[str]]) -> None:
    texts, y = tweets
    est = AutoTextClassifier(
        time_budget=60, max_trials=3, feature_sets=["emb", "word+emb"], cache_dir=str(tmp_path)
    ).fit(texts[:30], y[:30])  # 30 labels: just enough for a search, few texts to encode
    assert est.mode_ == "search"
    kinds = {m["config"]["features"]["kind"] for m in est.ensemble_}
    assert kinds <= {"emb", "word+emb"} and kinds
    proba = est.predict_proba(texts[30:33])
    assert proba.shape == (3, 2)
    assert est.transform_features(texts[30:33]).shape[0] == 3
    loaded = AutoTextClassifier.from_bytes(est.to_bytes())
    np.testing.assert_allclose(loaded.predict_proba(texts[30:33]), proba)


@pytest.mark.embeddings
@needs_extra
def test_fast_mode_adds_sentence_vectors_when_asked_or_already_encoded(
    tmp_path: Path, tweets: tuple[list[str], list[str]]
) -> None:
    from sklearn.metrics import f1_score

    texts, y = tweets
    train, y_train, test, y_test = texts[:60], y[:60], texts[200:400], y[200:400]

    def fast(features: str) -> AutoTextClassifier:
        return AutoTextClassifier(
            mode="fast", time_budget=0, fast_features=features, cache_dir=str(tmp_path)
        ).fit(train, y_train)

    def kind(est: AutoTextClassifier) -> str:
        (member,) = est.ensemble_
        return str(member["config"]["features"]["kind"])

    auto = fast("auto")  # nothing is encoded yet: fast mode never waits for the sentence model
    assert kind(auto) == "word" and "60 training texts are not encoded" in auto.search_info_["embeddings"]
    assert emb_mod.count_missing(train, tmp_path) == 60
    word = fast("word")
    both = fast("word+emb")  # asked for: encodes what is missing
    assert kind(both) == "word+emb" and both.search_info_["embeddings"] == "used (60 texts encoded)"
    auto = fast("auto")  # now every training text is cached
    assert kind(auto) == "word+emb" and auto.search_info_["embeddings"] == "used (0 texts encoded)"
    f1 = {name: f1_score(y_test, est.predict(test), pos_label="1") for name, est in (("word", word), ("both", both))}
    assert f1["both"] > f1["word"] + 0.1, f1  # the point of it: far better with few labels
    with pytest.raises(ValueError, match="fast_features"):
        AutoTextClassifier(mode="fast", fast_features="bert").fit(train, y_train)


@pytest.mark.embeddings
@needs_extra
def test_fast_word_block_is_lighter_with_few_single_labels_only(
    tmp_path: Path, tweets: tuple[list[str], list[str]], reuters: tuple[list[str], list[list[str]]]
) -> None:
    def word_weight(texts: list[str], y: list, **kw: object) -> float:
        est = AutoTextClassifier(mode="fast", fast_features="word+emb", cache_dir=str(tmp_path), **kw).fit(texts, y)
        (member,) = est.ensemble_
        return float(member["config"]["features"].get("word_weight", 1.0))

    texts, y = tweets
    assert word_weight(texts[:40], y[:40]) == 0.4  # 40 labels: labels / 100
    assert word_weight(texts[:40], y[:40], fast_word_weight=1.0) == 1.0  # asked for
    assert word_weight(texts[:120], y[:120]) == 1.0  # 100 labels and more: full weight, the model as before
    r_texts, r_y = reuters
    assert word_weight(r_texts[:40], r_y[:40]) == 1.0  # multi-label: measured worse lighter, so never


@pytest.mark.embeddings
@needs_extra
def test_a_long_text_is_cut_into_word_aligned_windows(bbc: tuple[list[str], list[str]]) -> None:
    tokenizer = emb_mod._load_model().tokenizer
    assert emb_mod.windows("a short text", tokenizer, 254) == [("a short text", 3)]
    text = max(bbc[0], key=len)
    pieces = emb_mod.windows(text, tokenizer, 60, max_windows=1000)
    assert len(pieces) > 3
    at = 0
    for piece, n in pieces:
        assert 1 <= n <= 60
        assert len(tokenizer(piece, add_special_tokens=False)["input_ids"]) == n  # re-read as it was cut
        found = text.index(piece, at)  # in order, from the original text, nothing dropped but spaces
        assert not text[at:found].strip()
        assert found == 0 or not (text[found - 1].isalnum() and text[found].isalnum())  # no word cut in two
        at = found + len(piece)
    assert not text[at:].strip()
    assert len(emb_mod.windows(text, tokenizer, 60, max_windows=2)) == 2  # the cap


@pytest.mark.embeddings
@needs_extra
def test_a_long_text_counts_whole_not_just_its_first_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRELABEL_ENCODER", "torch")  # compared with the torch model's own vectors below
    sport = " ".join(["The striker scored twice as the football club won the league match at home."] * 30)
    money = " ".join(["Shares fell on the stock market as the central bank raised interest rates."] * 30)
    model = emb_mod._load_model()
    text = sport + " " + money  # ~2 x 500 word pieces: the model alone would read the sport only
    vec = emb_mod.embed([text], tmp_path)[0]
    (truncated,) = model.encode([text], normalize_embeddings=True)
    finance = model.encode(["Banks and interest rates on the stock market."], normalize_embeddings=True)[0]
    assert float(vec @ finance) > float(truncated @ finance) + 0.1
    pieces = emb_mod.windows(text, model.tokenizer, model.max_seq_length - 2)
    parts = model.encode([p for p, _ in pieces], normalize_embeddings=True)
    mean = np.average(parts, axis=0, weights=[n for _, n in pieces])
    np.testing.assert_allclose(vec, mean / np.linalg.norm(mean), atol=1e-5)
    short = ["The striker scored twice."]  # a text that fits is encoded exactly as the model does it
    expected = model.encode(short, normalize_embeddings=True)
    np.testing.assert_allclose(emb_mod.embed(short, tmp_path), expected, atol=1e-6)


@pytest.mark.embeddings
@needs_extra
def test_vectors_cached_before_the_windows_are_not_read(tmp_path: Path) -> None:
    text = "An article that was cached before long texts had windows."
    old = tmp_path / "embeddings" / emb_mod.MODEL_NAME  # the layout before CACHE_VERSION
    old.mkdir(parents=True)
    keys = np.frombuffer(emb_mod.text_key(text), dtype=np.uint8).reshape(1, 20)
    np.savez(old / "shard-old.npz", keys=keys, vectors=np.ones((1, emb_mod.EMBEDDING_DIM), dtype=np.float32))
    assert emb_mod.count_missing([text], tmp_path) == 1
    vec = emb_mod.embed([text], tmp_path)[0]
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-4 and not np.allclose(vec, vec[0])
