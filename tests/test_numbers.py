"""Chinese quantities → English, on sentences quoted from the seed and evals/corpus/."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rag.config import PROJECT_ROOT
from rag.numbers import chinese_numeral, format_number, has_figure, quantities, to_english

CORPUS = PROJECT_ROOT / "evals" / "corpus"
SEED = "seeds/000_12477834bc4718d4.txt"

# (file, a fragment quoted from it, the figure as written, its English)
CASES = [
    (SEED, "全年开展73轮全员核酸检测,累计检测714万人次", "73轮", "73 rounds"),
    (SEED, "全年开展73轮全员核酸检测,累计检测714万人次", "714万人次", "7.14 million person-times"),
    (SEED, "全年地区生产总值完成93.8亿元,增长5.4%", "93.8亿元", "9.38 billion yuan"),
    (SEED, "全年地区生产总值完成93.8亿元,增长5.4%", "5.4%", "5.4%"),
    (SEED, "2023年3月31日在京东镇第六届人民代表大会第二次会议上", "2023年3月31日", "31 March 2023"),
    (SEED, "2023年3月31日在京东镇第六届人民代表大会第二次会议上", "第六届", "6th"),
    (SEED, "全年,我镇新增数字经济企业128 家,总数达305", "128 家", "128"),
    (SEED, "地方一般公共预算收入完成7130万元", "7130万元", "71.3 million yuan"),
    (SEED, "增值税留抵退税因素减收近7600万元", "近7600万元", "nearly 76 million yuan"),
    (SEED, "动员发动424名干部、300余名党员志愿者下沉一线", "300余名", "more than 300"),
    (SEED, "安装检修视频摄像头1600余个", "1600余个", "more than 1,600"),
    (
        "guangdong_2019_province.txt",
        "全省地区生产总值达9.73万亿元",
        "9.73万亿元",
        "9.73 trillion yuan",
    ),
    (
        "dapeng_2015_newarea.txt",
        "升至42.6%，年均提高10个百分点",
        "10个百分点",
        "10 percentage points",
    ),
    ("dapeng_2015_newarea.txt", "接待游客977.7万人次", "977.7万人次", "9.777 million person-times"),
    ("guangdong_2019_province.txt", "固定资产投资增长9%左右", "9%左右", "about 9%"),
    ("guangdong_2019_province.txt", "预期目标是：地区生产总值增长6—6.5%", "6—6.5%", "6%–6.5%"),
    ("guangdong_2019_province.txt", "滚动打造10—20个示范县", "10—20个", "10–20"),
    (SEED, "打造1至2个精品示范排水点", "1至2个", "1–2"),
    (
        "dapeng_2015_newarea.txt",
        "严格保护222平方公里基本生态控制线",
        "222平方公里",
        "222 square kilometres",
    ),
    ("dapeng_2015_newarea.txt", "完成拆除3.28公顷", "3.28公顷", "3.28 hectares"),
    ("guangdong_2019_province.txt", "造林更新380万亩", "380万亩", "3.8 million mu"),
    ("dapeng_2015_newarea.txt", "累计建成污水管网106.1公里", "106.1公里", "106.1 kilometres"),
    ("dapeng_2015_newarea.txt", "企业实现节能量3754.99吨标准煤", "3754.99吨", "3,754.99 tonnes"),
    ("dapeng_2015_newarea.txt", "安置分房已签约368户", "368户", "368 households"),
    ("dapeng_2015_newarea.txt", "新建住房1247套", "1247套", "1,247 sets"),
    ("dapeng_2015_newarea.txt", "投放400辆自行车", "400辆", "400 vehicles"),
    ("dapeng_2015_newarea.txt", "购置2台扬程400米的大", "2台", "2 units"),
    ("dapeng_2015_newarea.txt", "购置2台扬程400米的大", "400米", "400 metres"),
    ("guangdong_2019_province.txt", "市场采购出口增长2倍", "2倍", "2 times"),
    (
        "hailar_2013_district.txt",
        "2013年2月28日在海拉尔区第十四",
        "2013年2月28日",
        "28 February 2013",
    ),
    ("hailar_2013_district.txt", "2013年2月28日在海拉尔区第十四", "第十四", "14th"),
    ("guangdong_2019_province.txt", "压降不良贷款近360亿元", "近360亿元", "nearly 36 billion yuan"),
    ("hailar_2013_district.txt", "筹措2700多万元", "2700多万元", "more than 27 million yuan"),
    ("national_2018_guowuyuan.txt", "贫困人口减少6800多万", "6800多万", "more than 68 million"),
    (
        "national_2018_guowuyuan.txt",
        "由8300万增加到1亿3千多万",
        "1亿3千多万",
        "more than 130 million",
    ),
    (
        "national_2018_guowuyuan.txt",
        "从9000多公里增加到2万5千公里",
        "2万5千公里",
        "25,000 kilometres",
    ),
    ("dapeng_2015_newarea.txt", "建筑面积38.08万平方米", "38.08万平方米", "380,800 square metres"),
    ("guangming_2021_fazhi_report.txt", "参考人数444人", "444人", "444 people"),
    ("guangdong_2019_province.txt", "10月22日至25日", "10月22日至25日", "22–25 October"),
    ("guangdong_2019_province.txt", "启动第二批3家省实验室建设", "第二批", "2nd batch"),
    ("guangdong_2019_province.txt", "启动第二批3家省实验室建设", "3家", "3"),
    ("guangdong_2019_province.txt", "佛山南海农村土地制度改革三项试点", "三项", "3"),
    (
        "national_2018_guowuyuan.txt",
        "国内生产总值从54万亿元增加到82.7万",
        "54万亿元",
        "54 trillion yuan",
    ),
    ("shenzhen_2016_city.txt", "净增商事主体42.2万户", "42.2万户", "422,000 households"),
    (
        "dapeng_2015_newarea.txt",
        "其中注册资本1亿元以上8家、1千万元以上108家",
        "1千万元以上",
        "more than 10 million yuan",
    ),
    ("dapeng_2015_newarea.txt", "一、2014年工作回顾", "2014年", "2014"),
]


def _text(name: str) -> str:
    path = PROJECT_ROOT / name if name.startswith("seeds/") else CORPUS / name
    return path.read_bytes().decode("utf-8")


@pytest.mark.parametrize(("name", "fragment", "figure", "english"), CASES)
def test_real_figures_in_english(name: str, fragment: str, figure: str, english: str) -> None:
    assert fragment in _text(name), "the test must quote the document"
    found = {q.text: q for q in quantities(fragment)}
    assert figure in found, f"{figure} not found in {fragment}: {list(found)}"
    q = found[figure]
    assert fragment[q.start : q.end] == figure
    assert q.english == english


def test_enough_real_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(
    "fragment",
    [
        "“十二五”规划胜利完成",  # a plan's name
        "促进全省政府系统树牢“四个意识”",  # a slogan's name
        "深入贯彻落实新发展理念",
        "规模以上工业企业",
        "城域网IPv6升级改造",  # part of a name
        "流域开发”三位一体的生",  # an idiom
        "切最烦心的事一件一件解决",  # an idiom
    ],
)
def test_names_and_words_are_not_figures(fragment: str) -> None:
    corpus = "".join(p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt")))
    assert fragment in corpus
    assert quantities(fragment) == []


def test_full_width_digits_and_thousands_separators_keep_offsets() -> None:
    # The seed's "128 家" written with full-width digits, and a separated thousand.
    text = "全年新增数字经济企业１２８家，投资1,200万元左右"
    figures = quantities(text)
    assert [(q.text, q.english) for q in figures] == [
        ("１２８家", "128"),
        ("1,200万元左右", "about 12 million yuan"),
    ]
    assert all(text[q.start : q.end] == q.text for q in figures)


def test_ranges_borrow_the_scale_of_their_upper_end() -> None:
    assert [q.english for q in quantities("投资3-5万元，引进5至8亿元项目")] == [
        "30,000–50,000 yuan",
        "500–800 million yuan",
    ]


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("三", 3),
        ("七十三", 73),
        ("两", 2),
        ("十二", 12),
        ("一百零五", 105),
        ("一万二千", 12000),
        ("十二五", None),
        ("三五", None),
        ("", None),
    ],
)
def test_chinese_numerals(numeral: str, value: int | None) -> None:
    assert chinese_numeral(numeral) == value


def test_chinese_numerals_with_a_measure_word() -> None:
    assert [q.english for q in quantities("全年开展七十三轮检测，分三批推进，建成两个中心")] == [
        "73 rounds",
        "3 batches",
        "2",
    ]


def test_format_number() -> None:
    assert format_number(Decimal("7140000")) == "7.14 million"
    assert format_number(Decimal("110000")) == "110,000"
    assert format_number(Decimal("3200000000000")) == "3.2 trillion"


def test_to_english_rewrites_each_figure_of_a_span() -> None:
    assert to_english("93.8亿元,增长5.4%") == "9.38 billion yuan,增长5.4%"
    assert to_english("提高0.5个百分点") == "提高0.5 percentage points"


def test_a_bare_figure_stays_as_written() -> None:
    # The seed's 12345 is a hotline's number, not twelve thousand of anything.
    fragment = "全年累计办理 12345 政务服务热线"
    assert fragment in _text(SEED)
    assert [q.english for q in quantities(fragment)] == ["12345"]


def test_one_percentage_point_is_singular() -> None:
    assert quantities("提高1个百分点")[0].english == "1 percentage point"


@pytest.mark.parametrize(
    ("text", "named", "expected"),
    [
        ("全年开展73轮全员核酸检测", frozenset(), True),
        ("现学校在南宁市内有两个校区", frozenset(), True),  # a Chinese numeral
        ("增长6.9%", frozenset(), True),
        ("2021年光明区政府", frozenset(), False),  # a year dates, it does not count
        ("2023年3月5日召开", frozenset(), False),
        ("一批改革试点成果", frozenset(), False),  # an article, not a figure
        ("提高个人所得税起征点", frozenset(), False),
        ("实施19个项目", frozenset({"19"}), False),  # the question's own figure
        ("The reservoir now holds 3.2 million cubic metres of water.", frozenset(), True),
        ("In 2019 the town met again.", frozenset(), False),  # an English year
        ("2019家企业", frozenset(), True),  # a count that looks like a year
        ("占全球的三分之二", frozenset(), True),  # a share in words
        ("一半以上病人在首个小时内死亡", frozenset(), True),
        ("过着半隐居的生活", frozenset(), False),
        ("光明新区“12·20”滑坡事故", frozenset(), False),  # a figure in a name
        ("构建“1+5”体系，新增5个", frozenset(), True),
        ("加快推动轨道交通8号线一期建设", frozenset(), False),  # a number that numbers a thing
    ],
)
def test_a_figure_is_one_the_question_did_not_name(text: str, named: frozenset, expected: bool):
    assert has_figure(text, named) is expected

