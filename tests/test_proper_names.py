"""Which names a question asks about, read from CC-CEDICT's proper nouns."""

from __future__ import annotations

from rag.proper_names import absent_english_names, absent_names, english_names_in, names_in


def test_places_people_and_bodies_are_names_common_words_and_languages_are_not() -> None:
    assert names_in("上海2022年GDP增长多少？") == ["上海"]
    assert names_in("名义上加拿大总理一职由谁委任？") == ["加拿大"]
    assert names_in("珠穆朗玛峰有多高？") == ["珠穆朗玛峰"]
    assert names_in("改造为什么没有成功？") == []  # 成功 is also "success"
    assert names_in("这家银行的英文名是什么？") == []  # a language names nothing asked about
    assert names_in("高英杀胡充华为什么没有成功？") == []  # 为什么, not the company 华为


def test_a_name_counts_as_mentioned_in_any_document_in_scope() -> None:
    question = "上海和深圳哪个GDP更高？"
    assert absent_names(question, ["深圳市GDP增长9%。"]) == ["上海"]
    assert absent_names(question, ["深圳市GDP增长9%。", "上海市人民政府"]) == []


def test_an_english_questions_names_are_its_capitalised_words_outside_quotes() -> None:
    assert english_names_in("What was Shanghai's GDP growth in 2022?") == ["Shanghai", "GDP"]
    assert english_names_in("Shanghai's GDP grew by how much?") == ["Shanghai", "GDP"]
    assert english_names_in("What is the GDP of Germany?") == ["GDP", "Germany"]
    assert english_names_in("Where is the Bank of China?") == ["Bank of China"]
    assert english_names_in('What does "Three small venues" mean?') == []
    assert english_names_in("How many visitors came to Nan'ao?") == ["Nan'ao"]
    # Things common words name, and a people's adjective, are no names to look for: a
    # report calls the Communist Party 党 or 党中央, never 共产党.
    assert english_names_in("What does the Communist Party ask of cadres?") == []
    assert english_names_in("How did the Spring Festival go?") == []
    assert english_names_in("How many Chinese cities are named?") == []
    assert english_names_in("When did the Berlin Wall fall?") == ["Berlin"]


def _spelled(*words: str):
    return lambda letters: frozenset(words)


def test_an_english_name_is_absent_only_when_no_text_writes_it_in_any_form() -> None:
    question = "How fast did Shanghai's economy grow?"
    # The syllables also spell 伤害 "to harm": a common word is no mention of Shanghai.
    assert absent_english_names(question, ["防止伤害。"], _spelled("伤害")) == ["Shanghai"]
    assert absent_english_names(question, ["上海市GDP增长5%。"], _spelled()) == []
    # A gloss naming it (港澳 "Hong Kong and Macao"), a proper noun's first characters
    # (光明 of 光明日报 "Guangming Daily"), the text's own spelling (黄城, in no dictionary).
    assert absent_english_names("What about Macao?", ["深化粤港澳合作。"], _spelled()) == []
    assert absent_english_names("Where is Guangming?", ["光明新区"], _spelled()) == []
    assert absent_english_names("Who moved to Huangcheng?", ["黄城村"], _spelled("黄城")) == []
    # 人大 "(Chinese) National People's Congress (abbr. …)" names the Congress.
    assert absent_english_names("What did Congress approve?", ["镇人大主席团"], _spelled()) == []
    # Only a name the dictionary translates can be found missing.
    assert absent_english_names("How many goals did Messi score?", ["进球"], _spelled()) == []
    assert absent_english_names("How tall is Mount Fuji?", ["山高"], _spelled()) == ["Mount Fuji"]
