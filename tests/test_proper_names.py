"""Which names a Chinese question asks about, read from CC-CEDICT's proper nouns."""

from __future__ import annotations

from rag.proper_names import absent_names, names_in


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
