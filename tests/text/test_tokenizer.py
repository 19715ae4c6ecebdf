import pytest
import torch

from polymodal.errors import PolymodalError
from polymodal.text import SPECIALS, Tokenizer

TRAIN = ["A red circle, next to a blue square.", "The dog's (small) ball!", "a red-brown dog and a blue ball"]


@pytest.fixture
def word() -> Tokenizer:
    return Tokenizer().fit(TRAIN)


def test_word_round_trip_gives_the_normalised_text(word):
    text = "The  red DOG's ball,\tnext to a (blue) square!"
    assert word.normalize(text) == "the red dog's ball, next to a (blue) square!"
    assert word.decode(word.encode(text)) == word.normalize(text)
    for t in TRAIN:
        assert word.decode(word.encode(t)) == word.normalize(t)
        assert word.normalize(word.normalize(t)) == word.normalize(t)


def test_word_level_splits_punctuation_and_lowercases(word):
    ids = word.encode("Red, red!", add_special=False)
    assert [word.id_to_token(i) for i in ids] == ["red", ",", "red", "!"]


def test_special_ids_are_fixed(word):
    assert (word.pad_id, word.unk_id, word.bos_id, word.eos_id) == (0, 1, 2, 3)
    assert [word.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3]
    ids = word.encode("a red ball")
    assert ids[0] == word.bos_id and ids[-1] == word.eos_id and len(ids) == 5
    assert word.encode("a red ball", add_special=False) == ids[1:-1]
    assert word.encode("") == [word.bos_id, word.eos_id]
    assert word.decode([word.bos_id, *ids[1:-1], word.eos_id, word.pad_id]) == "a red ball"
    assert word.decode(ids, skip_special=False) == "<bos> a red ball <eos>"


def test_unknown_words_become_unk(word):
    ids = word.encode("a purple ball", add_special=False)
    assert ids[1] == word.unk_id and word.unk_id not in (ids[0], ids[2])
    assert word.decode(ids) == "a <unk> ball"  # shown, not silently dropped


def test_min_frequency_and_vocab_size_limit_the_vocabulary():
    texts = ["red red red blue blue green"]
    assert Tokenizer(min_frequency=2).fit(texts).encode("green", add_special=False) == [1]
    small = Tokenizer(vocab_size=5).fit(texts)
    assert small.vocab_size == 5 and small.decode(small.encode("red blue")) == "red <unk>"


def test_batch_is_padded_with_a_mask(word):
    texts = ["a red ball", "", "the dog's small blue ball and a red circle"]
    ids, mask = word.encode_batch(texts, max_len=8)
    assert ids.dtype == torch.long and mask.dtype == torch.bool and ids.shape == mask.shape == (3, 8)
    assert mask.sum(dim=1).tolist() == [5, 2, 8]
    assert (ids[~mask] == word.pad_id).all() and (ids[mask] != word.pad_id).all()
    assert ids[0, :5].tolist() == word.encode(texts[0])
    assert ids[2, -1] == word.eos_id  # truncation keeps <eos>
    assert word.encode(texts[2], max_len=8) == ids[2].tolist()
    short, _ = word.encode_batch(["a", "a red"])
    assert short.shape == (2, 4)  # padded to the longest, not to max_len
    none, none_mask = word.encode_batch(["", ""], add_special=False)
    assert none.shape == (2, 1) and not none_mask.any()
    with pytest.raises(PolymodalError, match="max_len"):
        word.encode("a red ball", max_len=1)


def test_bpe_round_trips_unseen_words_built_from_known_pieces():
    bpe = Tokenizer(kind="bpe", vocab_size=60).fit(TRAIN * 5)
    assert bpe.vocab_size <= 60
    text = "A  dog's reddish ball (brown)."  # "reddish" was never seen
    ids = bpe.encode(text, add_special=False)
    assert bpe.unk_id not in ids and len(ids) > len(bpe.normalize(text).split())
    assert bpe.decode(ids) == bpe.normalize(text) == "a dog's reddish ball (brown)."
    assert bpe.unk_id in bpe.encode("zzz")  # a character never seen


def test_json_round_trip_is_equal(word):
    for tok in (word, Tokenizer(kind="bpe", vocab_size=60).fit(TRAIN), Tokenizer(kind="bpe", lowercase=False)):
        again = Tokenizer.from_json(tok.to_json())
        assert again == tok and again.to_json() == tok.to_json()
        if tok.fitted:
            assert again.encode_batch(TRAIN)[0].equal(tok.encode_batch(TRAIN)[0])
    # Fitting is deterministic (vocabulary ties included), so encoder ids and caches are stable.
    assert Tokenizer(vocab_size=8).fit(TRAIN).to_json() == Tokenizer(vocab_size=8).fit(TRAIN).to_json()
    assert Tokenizer("bpe", vocab_size=60).fit(TRAIN).to_json() == Tokenizer("bpe", vocab_size=60).fit(TRAIN).to_json()
    assert Tokenizer().fit(TRAIN[:1]) != word
    with pytest.raises(PolymodalError, match="tokenizer JSON"):
        Tokenizer.from_json('{"kind": "word"}')


def test_unfitted_and_bad_options_raise_clear_errors():
    with pytest.raises(PolymodalError, match="fit"):
        Tokenizer().encode("a red ball")
    with pytest.raises(PolymodalError, match="kind"):
        Tokenizer(kind="char")
    assert Tokenizer().vocab_size == len(SPECIALS)


def test_case_is_kept_when_asked():
    tok = Tokenizer(lowercase=False).fit(["Red red"])
    assert tok.decode(tok.encode("Red red")) == "Red red" and tok.vocab_size == 6
