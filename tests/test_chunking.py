"""Chunks are exact spans of the source, whole sentences, never cut inside a number."""

from __future__ import annotations

import re

from rag.chunking import ChunkerSettings, chunk_text, sentence_spans, split_sentences

NUMBER = re.compile(r"\d+(?:[.,]\d+)*\s?(?:%|亿元|万元|万人次|家|轮|个|项)?")


def test_offsets_slice_back_to_the_chunk_text(seed_text: str) -> None:
    chunks, sentences = chunk_text(seed_text, "seed.txt", ChunkerSettings())
    assert len(chunks) > 20
    for chunk in chunks:
        assert seed_text[chunk.start : chunk.end] == chunk.text
        assert chunk.line == seed_text.count("\n", 0, chunk.start) + 1
    covered = {i for s in sentences for i in range(s.start, s.end)}
    assert all(ch.isspace() for i, ch in enumerate(seed_text) if i not in covered)


def test_no_boundary_splits_a_number(seed_text: str) -> None:
    chunks, sentences = chunk_text(seed_text, "seed.txt", ChunkerSettings(target_chars=60))
    boundaries = {c.start for c in chunks} | {c.end for c in chunks}
    boundaries |= {s.start for s in sentences} | {s.end for s in sentences}
    for match in NUMBER.finditer(seed_text):
        inside = set(range(match.start() + 1, match.end()))
        assert not inside & boundaries, match.group()
    for quote in ("93.8亿元", "83.3%", "128 家", "714万人次"):
        assert any(quote in s for s in (seed_text[x.start : x.end] for x in sentences))


def test_sentences_end_at_chinese_and_ascii_terminators() -> None:
    text = "第一句。第二句！第三句？第四句；fifth; sixth! seventh? 最后"
    spans = [text[s:e] for s, e in sentence_spans(text, 0, len(text))]
    assert spans == [
        "第一句。", "第二句！", "第三句？", "第四句；", "fifth;", "sixth!", "seventh?", "最后"
    ]


def test_a_quotation_is_not_split() -> None:
    text = "按照“疫情要防住。经济要稳住。”的要求推进。下一句。"
    spans = [text[s:e] for s, e in sentence_spans(text, 0, len(text))]
    assert spans == ["按照“疫情要防住。经济要稳住。”的要求推进。", "下一句。"]


def test_a_bracket_is_not_split() -> None:
    sentences = [
        "牛车水（；）是新加坡的唐人街。", "锦地罗又称-{zh-cn:毛毡苔;zh-hk:锦地罗}-。", "下一句。"
    ]
    text = "".join(sentences)
    assert [text[s:e] for s, e in sentence_spans(text, 0, len(text))] == sentences


def test_sections_follow_the_heading_styles(seed_text: str) -> None:
    sentences = split_sentences(seed_text, ChunkerSettings())

    def section_of(fragment: str) -> str:
        return next(s.section for s in sentences if fragment in seed_text[s.start : s.end])

    assert section_of("全年开展73轮") == "一、2022年工作回顾 > 疫情防控科学精准。"
    assert section_of("地区生产总值增长8%左右") == "二、2023年主要工作安排 > 主要预期目标是:"
    assert section_of("扎实推进全镇23个区重大重点项目").startswith("二、2023年主要工作安排 > 一是")
    assert section_of("严格执行中央八项规定") == "三、持续强化政府作风建设 > 构建廉洁政府。"
    assert section_of("镇长 魏 翔") == "政府工作报告"  # the cover block is part of the document


def test_a_heading_line_s_later_sentences_are_content() -> None:
    # As in the Guangdong report's list of ten livelihood projects: a numbered heading and
    # its content on one line. Only the heading names the section; the rest can answer.
    text = "一、提高基础养老金水平。最低标准从每人每月148元提高到170元；低保提高到554元。\n"
    sentences = split_sentences(text, ChunkerSettings())
    assert [(text[s.start : s.end], s.label) for s in sentences] == [
        ("一、提高基础养老金水平。", True),
        ("最低标准从每人每月148元提高到170元；", False),
        ("低保提高到554元。", False),
    ]
    assert {s.section for s in sentences} == {"一、提高基础养老金水平。"}


def test_chunks_stay_within_one_section_and_overlap(seed_text: str) -> None:
    chunks, _ = chunk_text(seed_text, "seed.txt", ChunkerSettings(target_chars=120))
    pairs = zip(chunks, chunks[1:], strict=False)
    same_section_pairs = [(a, b) for a, b in pairs if a.section == b.section]
    assert same_section_pairs
    same_paragraph = [(a, b) for a, b in same_section_pairs if a.line == b.line]
    overlapping = [(a, b) for a, b in same_paragraph if b.start < a.end]
    # Only a chunk made of one over-long sentence is followed without overlap.
    assert len(overlapping) >= len(same_paragraph) / 2
    assert all(seed_text[b.start : a.end] in a.text for a, b in overlapping)


def test_an_over_long_sentence_is_split_at_clauses_not_in_numbers() -> None:
    text = "，".join(f"第{i}项投入1,234.5万元" for i in range(60)) + "。"
    sentences = split_sentences(text, ChunkerSettings(max_sentence_chars=100))
    assert len(sentences) > 5
    assert all(s.end - s.start <= 120 for s in sentences)
    assert "".join(text[s.start : s.end] for s in sentences) == text
    for s in sentences:
        assert not text[s.start].isdigit() or not text[s.start - 1].isdigit()


def test_markdown_headings_nest_by_depth_under_a_title_that_heads_none() -> None:
    text = (
        "# 2023年政府工作报告\n\n各位代表：\n\n## 一、2022年工作回顾\n\n全年增长5%。\n\n"
        "### （一）产业\n\n新建工厂3家。\n\n## 二、2023年安排\n\n目标增长6%。\n"
    )
    section = {text[s.start : s.end]: s.section for s in split_sentences(text, ChunkerSettings())}
    assert section["新建工厂3家。"] == "一、2022年工作回顾 > （一）产业"
    assert section["目标增长6%。"] == "二、2023年安排"  # not under 2023年政府工作报告
    assert section["全年增长5%。"] == "一、2022年工作回顾"
    # Plain "一、" headings still start anew.
    plain = "一、回顾\n（一）产业\n新建工厂3家。\n二、安排\n目标增长6%。\n"
    section = {plain[s.start : s.end]: s.section for s in split_sentences(plain, ChunkerSettings())}
    assert section["目标增长6%。"] == "二、安排"
