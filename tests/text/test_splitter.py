"""Units of text (token, sentence, paragraph) in every language of the API enum, their offsets, and masking."""

from __future__ import annotations

import numpy as np
import pytest

from openclarify.clarify.records import parse_csv
from openclarify.clarify.text import (
    GRANULARITIES,
    LANGUAGES,
    TextUnit,
    mask_text,
    mask_texts,
    model_table,
    paragraphs,
    resolve_feature_types,
    split_units,
    tokenizer,
)
from openclarify.errors import ValidationError, ValidationException


def pieces(units) -> list[tuple[str, int]]:
    return [(u.text, u.start) for u in units]


def check_units(text: str, units: tuple[TextUnit, ...]) -> None:
    """In order, non-overlapping, each the exact slice at its offset, none empty or padded with whitespace, and
    nothing but whitespace left between them."""
    position = 0
    for unit in units:
        assert unit.text and unit.text == unit.text.strip()
        assert text[unit.start : unit.end] == unit.text
        assert unit.start >= position and not text[position : unit.start].strip()
        position = unit.end
    assert not text[position:].strip()


# -- the enum --------------------------------------------------------------------------------------------------


def test_the_enum_has_the_60_codes_of_the_service_model():
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    assert list(LANGUAGES) == model.shape_for("ClarifyTextLanguage").enum
    assert list(GRANULARITIES) == model.shape_for("ClarifyTextGranularity").enum


# One sample per code: a short text in that language with two sentences (or a mixed one for xx).
SAMPLES = {
    "af": "Die produk is baie goed. Ek hou daarvan!",
    "sq": "Produkti është shumë i mirë. Më pëlqen!",
    "ar": "المنتج جيد جدا. أنا أحبه!",
    "hy": "Ապրանքը շատ լավն է։ Ինձ դուր է գալիս։",
    "eu": "Produktua oso ona da. Gustatzen zait!",
    "bn": "পণ্যটি খুব ভালো। আমি এটা পছন্দ করি!",
    "bg": "Продуктът е много добър. Харесва ми!",
    "ca": "El producte és molt bo. M'agrada!",
    "zh": "这个产品很好。我很喜欢！",
    "hr": "Proizvod je vrlo dobar. Sviđa mi se!",
    "cs": "Výrobek je velmi dobrý. Líbí se mi!",
    "da": "Produktet er meget godt. Jeg kan lide det!",
    "nl": "Het product is erg goed. Ik vind het leuk!",
    "en": "The product is very good. I like it!",
    "et": "Toode on väga hea. Mulle meeldib!",
    "fi": "Tuote on erittäin hyvä. Pidän siitä!",
    "fr": "Le produit est très bon. Je l'aime bien !",
    "de": "Das Produkt ist sehr gut. Ich mag es!",
    "el": "Το προϊόν είναι πολύ καλό. Μου αρέσει!",
    "gu": "ઉત્પાદન ખૂબ સારું છે. મને તે ગમે છે!",
    "he": "המוצר טוב מאוד. אני אוהב אותו!",
    "hi": "उत्पाद बहुत अच्छा है। मुझे यह पसंद है!",
    "hu": "A termék nagyon jó. Tetszik!",
    "is": "Varan er mjög góð. Mér líkar hún!",
    "id": "Produknya sangat bagus. Saya suka!",
    "ga": "Tá an táirge an-mhaith. Is maith liom é!",
    "it": "Il prodotto è molto buono. Mi piace!",
    "kn": "ಉತ್ಪನ್ನ ತುಂಬಾ ಚೆನ್ನಾಗಿದೆ. ನನಗೆ ಇಷ್ಟವಾಯಿತು!",
    "ky": "Продукт абдан жакшы. Мага жагат!",
    "lv": "Produkts ir ļoti labs. Man patīk!",
    "lt": "Produktas labai geras. Man patinka!",
    "lb": "De Produit ass ganz gutt. Ech hunn en gär!",
    "mk": "Производот е многу добар. Ми се допаѓа!",
    "ml": "ഉൽപ്പന്നം വളരെ നല്ലതാണ്. എനിക്ക് ഇഷ്ടമാണ്!",
    "mr": "उत्पादन खूप चांगले आहे. मला ते आवडते!",
    "ne": "उत्पादन धेरै राम्रो छ। मलाई मन पर्छ!",
    "nb": "Produktet er veldig bra. Jeg liker det!",
    "fa": "محصول خیلی خوب است. من آن را دوست دارم!",
    "pl": "Produkt jest bardzo dobry. Podoba mi się!",
    "pt": "O produto é muito bom. Eu gosto!",
    "ro": "Produsul este foarte bun. Îmi place!",
    "ru": "Продукт очень хороший. Мне нравится!",
    "sa": "वस्तु अतीव उत्तमा अस्ति। मम रोचते!",
    "sr": "Производ је веома добар. Свиђа ми се!",
    "tn": "Sedirisiwa se siame thata. Ke a se rata!",
    "si": "නිෂ්පාදනය ඉතා හොඳයි. මම එයට කැමතියි!",
    "sk": "Výrobok je veľmi dobrý. Páči sa mi!",
    "sl": "Izdelek je zelo dober. Všeč mi je!",
    "es": "El producto es muy bueno. ¡Me gusta!",
    "sv": "Produkten är mycket bra. Jag gillar den!",
    "tl": "Napakaganda ng produkto. Gusto ko ito!",
    "ta": "தயாரிப்பு மிகவும் நல்லது. எனக்கு பிடிக்கும்!",
    "tt": "Продукт бик яхшы. Миңа ошый!",
    "te": "ఉత్పత్తి చాలా బాగుంది. నాకు నచ్చింది!",
    "tr": "Ürün çok iyi. Onu sevdim!",
    "uk": "Продукт дуже добрий. Мені подобається!",
    "ur": "پروڈکٹ بہت اچھی ہے۔ مجھے پسند ہے!",
    "yo": "Ọja naa dara pupọ. Mo fẹran rẹ!",
    "lij": "O prodûto o l'é moltu bon. O me piaxe!",
    "xx": "The product is good. 这个产品很好。",
}


def test_every_code_has_a_sample():
    assert set(SAMPLES) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_splits_and_round_trips(language):
    text = SAMPLES[language]
    tokens = split_units(text, language, "token")
    sentences = split_units(text, language, "sentence")
    check_units(text, tokens)
    check_units(text, sentences)
    assert len(tokens) >= 5, pieces(tokens)
    # Two sentences in each sample; a few blank tokenizers see one (next test).
    assert 1 <= len(sentences) <= 2
    # Every non-space character belongs to exactly one token.
    assert "".join(u.text for u in tokens) == "".join(text.split())
    # Masking every token with the collapse rule leaves one replacement: the baseline value.
    assert mask_text(text, tokens, [False] * len(tokens), "<UNK>") == "<UNK>"


def test_every_language_ends_a_sentence_at_its_full_stop():
    # spaCy's blank Gujarati and Malayalam tokenizers keep a sentence-final "." on the word before it, and the
    # Armenian one its "։": the splitter adds them as suffixes, so every sample's two sentences come out as two.
    one = [code for code in LANGUAGES if len(split_units(SAMPLES[code], code, "sentence")) == 1]
    assert one == []


# -- boundaries and offsets, language by language ---------------------------------------------------------------


def test_english_tokens_and_sentences():
    text = "This is a good product. It's cheap, too!  Really."
    assert pieces(split_units(text, "en", "token")) == [
        ("This", 0), ("is", 5), ("a", 8), ("good", 10), ("product", 15), (".", 22), ("It", 24), ("'s", 26),
        ("cheap", 29), (",", 34), ("too", 36), ("!", 39), ("Really", 42), (".", 48),
    ]  # fmt: skip
    assert pieces(split_units(text, "en", "sentence")) == [
        ("This is a good product.", 0),
        ("It's cheap, too!", 24),
        ("Really.", 42),  # two spaces before it: whitespace between units belongs to none
    ]


def test_german_and_french():
    de = "Das Produkt ist gut. Die Lieferung z.B. war langsam."
    assert pieces(split_units(de, "de", "sentence")) == [
        ("Das Produkt ist gut.", 0),
        ("Die Lieferung z.B. war langsam.", 21),  # the abbreviation z.B. is one token, not a sentence end
    ]
    assert ("z.B.", 35) in pieces(split_units(de, "de", "token"))
    fr = "C'est très bien. L'emballage était abîmé !"
    assert pieces(split_units(fr, "fr", "token"))[:4] == [("C'", 0), ("est", 2), ("très", 6), ("bien", 11)]
    assert pieces(split_units(fr, "fr", "sentence")) == [("C'est très bien.", 0), ("L'emballage était abîmé !", 17)]


def test_chinese_words_with_jieba_and_latin_words_whole():
    text = "我喜欢这个产品，质量很好。但是 delivery 很慢！"
    assert tokenizer("zh").name == "spacy:zh+jieba"
    assert pieces(split_units(text, "zh", "token")) == [
        ("我", 0), ("喜欢", 1), ("这个", 3), ("产品", 5), ("，", 7), ("质量", 8), ("很", 10), ("好", 11), ("。", 12),
        ("但是", 13), ("delivery", 16), ("很", 25), ("慢", 26), ("！", 27),
    ]  # fmt: skip
    assert pieces(split_units(text, "zh", "sentence")) == [
        ("我喜欢这个产品，质量很好。", 0),
        ("但是 delivery 很慢！", 13),
    ]


def test_japanese_as_xx_is_split_per_character_and_by_sentence():
    # Japanese is not in the API enum: mixed-language text is sent as xx.
    text = "これはペンです。Tokyo 2024年に行きました！"
    assert tokenizer("xx").name == "spacy:xx+cjk-characters"
    tokens = pieces(split_units(text, "xx", "token"))
    assert tokens[:8] == [("こ", 0), ("れ", 1), ("は", 2), ("ペ", 3), ("ン", 4), ("で", 5), ("す", 6), ("。", 7)]
    assert tokens[8:11] == [("Tokyo", 8), ("2024", 14), ("年", 18)]
    assert pieces(split_units(text, "xx", "sentence")) == [("これはペンです。", 0), ("Tokyo 2024年に行きました！", 8)]


def test_arabic_right_to_left_offsets_are_logical_order():
    text = "المنتج رائع! التوصيل بطيء؟ نعم"
    assert pieces(split_units(text, "ar", "token")) == [
        ("المنتج", 0), ("رائع", 7), ("!", 11), ("التوصيل", 13), ("بطيء", 21), ("؟", 25), ("نعم", 27),
    ]  # fmt: skip
    assert pieces(split_units(text, "ar", "sentence")) == [("المنتج رائع!", 0), ("التوصيل بطيء؟", 13), ("نعم", 27)]


@pytest.mark.parametrize("language", ["en", "de", "fr", "zh", "xx", "ar"])
def test_paragraphs_are_blank_line_separated_in_any_language(language):
    text = "  First line\nstill first.\r\n\r\n \t\nSecond one.\n\n\nThird  \n"
    assert pieces(split_units(text, language, "paragraph")) == [
        ("First line\nstill first.", 2),
        ("Second one.", 32),
        ("Third", 46),
    ]


def test_empty_whitespace_and_one_unit_texts():
    for granularity in GRANULARITIES:
        assert split_units("", "en", granularity) == ()
        assert split_units(" \n\t ", "en", granularity) == ()
        assert pieces(split_units("  Terrible ", "en", granularity)) == [("Terrible", 2)]
    assert paragraphs("one") == (TextUnit("one", 0),)


def test_unknown_language_or_granularity_is_a_validation_error():
    with pytest.raises(ValidationError, match="ClarifyTextLanguage"):
        split_units("text", "ja", "token")
    with pytest.raises(ValidationError, match="Granularity"):
        split_units("text", "en", "word")


# -- masking ----------------------------------------------------------------------------------------------------


def test_masking_replaces_spans_and_collapses_adjacent_masked_units():
    text = "This is a good product"
    units = split_units(text, "en", "token")
    assert mask_text(text, units, [True] * 5, "<UNK>") == text
    assert mask_text(text, units, [True, False, True, False, True], "<UNK>") == "This <UNK> a <UNK> product"
    assert mask_text(text, units, [True, False, False, True, True], "<UNK>") == "This <UNK> good product"
    assert mask_text(text, units, [False] * 5, "<UNK>") == "<UNK>"  # all masked: the baseline value itself
    assert mask_text(text, units, [False, True, True, True, False], "") == " is a good "  # empty baseline drops text


def test_masking_keeps_text_outside_units_and_punctuation_units():
    text = "  Nice, soft!\n\nBad zip.  "
    units = split_units(text, "en", "sentence")
    assert pieces(units) == [("Nice, soft!", 2), ("Bad zip.", 15)]
    assert mask_text(text, units, [False, True], "[MASK]") == "  [MASK]\n\nBad zip.  "
    assert mask_text(text, units, [False, False], "[MASK]") == "  [MASK]  "
    tokens = split_units(text, "en", "token")
    keep = np.array([t.text != "," for t in tokens])
    assert mask_text(text, tokens, keep, "_") == "  Nice_ soft!\n\nBad zip.  "


def test_csv_text_cells_round_trip_through_masking():
    # A quoted CSV cell with commas, doubled quotes and a newline parses to the text the units index into.
    (record,) = parse_csv('"He said ""great"", then\nleft",4\n')
    text = record[0]
    assert text == 'He said "great", then\nleft'
    units = split_units(text, "en", "token")
    assert [u.text for u in units] == ["He", "said", '"', "great", '"', ",", "then", "left"]
    check_units(text, units)


# -- feature types and the in-process table --------------------------------------------------------------------


def test_feature_types_from_config_or_inferred_from_the_baseline():
    rows = [("<UNK>", "3", "1.5"), ("", "4", "nan")]
    assert resolve_feature_types(None, False, rows) is None
    assert resolve_feature_types(None, True, rows) == ("text", "numerical", "numerical")
    assert resolve_feature_types(["text", "categorical", "numerical"], True, rows) == (
        "text",
        "categorical",
        "numerical",
    )
    with pytest.raises(ValidationException, match="no feature is text"):
        resolve_feature_types(None, True, [("1", "2")])


def test_model_table_types_each_column():
    table = model_table([("good", "3", "red"), ("bad", 4, "blue")], ("text", "numerical", "categorical"))
    assert table.dtype == object and table.tolist() == [["good", 3.0, "red"], ["bad", 4.0, "blue"]]
    with pytest.raises(ValidationError, match="column 2"):
        model_table([("good", "three", "red")], ("text", "numerical", "categorical"))


def reference_mask(text: str, units, keep, replacement: str) -> str:
    """Masking as the spec reads, one unit at a time: each kept unit keeps the text since the previous unit's end; a
    run of masked units becomes the text before its first unit and one replacement."""
    out, position, masked_run = [], 0, False
    for unit, kept in zip(units, keep, strict=True):
        if kept:
            out.append(text[position : unit.end])
            masked_run = False
        elif not masked_run:
            out.append(text[position : unit.start] + replacement)
            masked_run = True
        position = unit.end
    return "".join(out) + text[position:]


@pytest.mark.parametrize(
    ("text", "granularity"),
    [
        ("I ordered a size small, but these were really baggy.  My son said so!\n\nSent back.", "token"),
        ("  Nice, soft!\n\nBad zip.  Great fit. ", "sentence"),
        ("", "token"),
    ],
)
def test_masking_every_coalition_at_once_matches_masking_one_at_a_time(text, granularity):
    units = split_units(text, "en", granularity)
    rng = np.random.default_rng(7)
    keeps = rng.random((300, len(units))) < rng.random((300, 1))  # from nearly all kept to nearly all masked
    for replacement in ("<UNK>", "", "a b"):
        got = mask_texts(text, units, keeps, replacement)
        assert got == [reference_mask(text, units, keep, replacement) for keep in keeps]
