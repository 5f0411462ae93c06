"""The one text toolkit: the stems doc-store search and the offline provider share."""

from eco_shared.text import content_stems, fold, stem, stemmed_text, words


def test_inflections_share_a_stem() -> None:
    assert stem("retries") == stem("retry") == "retry"
    assert stem("logging") == stem("logs") == stem("log") == "log"
    assert stem("stopped") == "stop"
    assert stem("organisation") == stem("organization")
    assert stem("class") == "class"  # a double-s is not a plural


def test_content_stems_drop_stop_words() -> None:
    assert content_stems("Do the documents say much about retries?") == [
        "document",
        "say",
        "much",
        "retry",
    ]


def test_stemmed_text_folds_accents_and_keeps_order() -> None:
    assert fold("Wörld ﬁle") == "World file"
    assert stemmed_text("Retries in the Wörld") == "retry in the world"
    assert words("HTTP-2 over TLS 1") == ["http-2", "over", "tls", "1"]
