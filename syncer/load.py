"""Load the real public corpora (or the project's demo sample) into the helpdesk schema.

Input: MySQL settings and the data directory holding the four ticket-shaped CSV files
(``<data_dir>/tickets/*.csv`` or ``<data_dir>/*.csv``): medical_dialogue.csv, online_shopping_10_cats.csv,
waimai_10k.csv, ChnSentiCorp_htl_all.csv.
Output: rows in tenants, users, tickets, ticket_comments, tags and ticket_tags, and a ``LoadReport``.

Mapping: medical_dialogue → one tenant per department (category = department, subject = title,
description = ask, first agent comment = answer); online_shopping_10_cats → one tenant per ``cat``
(subject = first clause of the review, at most 30 characters; description = review; label 0 → tag 差评,
1 → tag 好评); waimai_10k → tenant "waimai"; ChnSentiCorp_htl_all → tenant "hotel". Everything else
(users, statuses, priorities, channels, timestamps with milliseconds, order numbers, custom fields,
extra comments and tags) is synthetic, drawn from ``random.Random`` seeded by (seed, copy, tenant slug).

Guarantees:
- Deterministic: the same files, seed, limit and copies give the same rows. Tenant ids do not depend on
  ``limit_per_file`` (they come from the full files: first-appearance order of each category).
- Text is kept exactly as in the files (only a leading BOM of a field is stripped).
- Ids are per-tenant sequences starting at 1, so equal ticket ids exist in different tenants.
- Refuses (``TenantsNotEmptyError``) to load into a tenant that already has rows, unless ``replace=True``,
  which deletes that tenant's rows first, children first, explicitly (the schema has no cascades, and
  cascaded deletes would never reach the binlog).
- Inserts are multi-row INSERTs in transactions of ``BATCH_ROWS`` rows on one connection; a failure part
  way leaves the tenants loaded so far (load again with ``replace=True``).
"""

from __future__ import annotations

import csv
import json
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pymysql

from searchcore.dbconfig import MySQLSettings
from syncer import demo_data

SCHEMA_SQL = Path(__file__).resolve().parent / "sql" / "helpdesk.sql"
BATCH_ROWS = 2000

MEDICAL = "medical_dialogue.csv"
SHOPPING = "online_shopping_10_cats.csv"
WAIMAI = "waimai_10k.csv"
HOTEL = "ChnSentiCorp_htl_all.csv"
CORPUS_FILES = (MEDICAL, SHOPPING, WAIMAI, HOTEL)

_HEADERS = {
    MEDICAL: ["department", "title", "ask", "answer"],
    SHOPPING: ["cat", "label", "review"],
    WAIMAI: ["label", "review"],
    HOTEL: ["label", "review"],
}

# ASCII slugs for the categories known in the shipped files; unknown ones get "<prefix>-<n>".
_MEDICAL_SLUGS = {
    "肝病科": "hepatology",
    "消化科": "gastroenterology",
    "神经科": "neurology",
    "心血管科": "cardiology",
    "内分泌科": "endocrinology",
    "呼吸科": "respiratory",
    "肾内科": "nephrology",
    "感染科": "infectious",
    "血液科": "hematology",
    "普通内科": "internal",
    "风湿免疫科": "rheumatology",
}
_SHOPPING_SLUGS = {
    "书籍": "books",
    "平板": "tablets",
    "手机": "phones",
    "水果": "fruit",
    "洗发水": "shampoo",
    "热水器": "water-heaters",
    "蒙牛": "mengniu",
    "衣服": "clothing",
    "计算机": "computers",
    "酒店": "hotels",
}

LABEL_TAGS = {0: "差评", 1: "好评"}


# ------------------------------------------------------------------------------------------------ errors


class LoadError(Exception):
    """Base class of every loader error."""


class CorpusFileError(LoadError):
    """A corpus file is missing or malformed; ``line`` is the 1-based physical line (0 = whole file)."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {reason}")


class SchemaMissingError(LoadError):
    def __init__(self, database: str, table: str, detail: str) -> None:
        self.database = database
        self.table = table
        super().__init__(
            f"table {database}.{table} is not usable ({detail}); apply the schema first with "
            f"syncer.load.ensure_schema(settings) or scripts/mariadb.sh start"
        )


class TenantsNotEmptyError(LoadError):
    """Target tenants already hold rows; ``rows`` maps tenant id → {table: row count}."""

    def __init__(self, rows: dict[int, dict[str, int]]) -> None:
        self.rows = rows
        shown = ", ".join(
            f"tenant {tid} ({', '.join(f'{t}={n}' for t, n in counts.items())})"
            for tid, counts in sorted(rows.items())[:5]
        )
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        super().__init__(
            f"{len(rows)} target tenant(s) already have rows: {shown}{more}; "
            f"pass replace=True to delete and reload them, or use another tenant_id_offset"
        )


class SlugConflictError(LoadError):
    def __init__(self, slug: str, existing_id: int, wanted_id: int) -> None:
        self.slug = slug
        self.existing_id = existing_id
        self.wanted_id = wanted_id
        super().__init__(
            f"tenant slug {slug!r} already belongs to tenant {existing_id}, cannot load it as tenant "
            f"{wanted_id}; use the same tenant_id_offset as before or remove tenant {existing_id}"
        )


# ------------------------------------------------------------------------------------------------ report


@dataclass(frozen=True)
class LoadReport:
    tenants: int
    users: int
    tickets: int
    comments: int
    tags: int
    ticket_tags: int
    seconds: float
    tenant_ids: tuple[int, ...] = ()

    def summary(self) -> str:
        return (
            f"loaded {self.tenants} tenants, {self.users} users, {self.tickets} tickets, "
            f"{self.comments} comments, {self.tags} tags, {self.ticket_tags} ticket tags "
            f"in {self.seconds:.1f} s"
        )


# ------------------------------------------------------------------------------------------------ corpus


@dataclass(frozen=True)
class SourceTicket:
    """One ticket as read from a corpus file, text exactly as in the file."""

    subject: str
    description: str
    category: str
    answer: str | None
    label: int | None
    line: int


@dataclass
class SourceTenant:
    base_index: int  # 0-based over all tenants of all files (stable: from full-file scans)
    slug: str
    name: str
    kind: str  # medical | shopping | waimai | hotel
    tickets: list[SourceTicket] = field(default_factory=list)


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


_CLAUSE_END = re.compile(r"[，,。．.！!？?；;：:、～~…\s]+")


def first_clause(text: str, limit: int = 30) -> str:
    """The first non-empty clause of ``text`` (split at punctuation and whitespace), at most ``limit``
    characters; the whole text's first ``limit`` characters if it has no punctuation; ``(无内容)`` if empty.
    """
    for part in _CLAUSE_END.split(text):
        if part:
            return part[:limit]
    return "(无内容)"


def _find_corpus_dir(data_dir: Path) -> Path:
    for candidate in (data_dir / "tickets", data_dir):
        if (candidate / MEDICAL).is_file():
            return candidate
    raise CorpusFileError(
        data_dir / "tickets" / MEDICAL,
        0,
        f"corpus file not found (looked in {data_dir / 'tickets'} and {data_dir})",
    )


def _read_csv(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (physical line number, fields) for each data record; checks header and column count."""
    if not path.is_file():
        raise CorpusFileError(path, 0, "corpus file not found")
    expected = _HEADERS[path.name]
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header != expected:
                raise CorpusFileError(path, 1, f"header is {header!r}, expected {expected!r}")
            line = reader.line_num
            for row in reader:
                start = line + 1
                line = reader.line_num
                if len(row) != len(expected):
                    raise CorpusFileError(path, start, f"expected {len(expected)} columns, got {len(row)}")
                yield start, [_strip_bom(v) for v in row]
    except UnicodeDecodeError as exc:
        raise CorpusFileError(path, 0, f"not valid UTF-8 at byte {exc.start}") from exc
    except csv.Error as exc:
        raise CorpusFileError(path, 0, f"CSV syntax error: {exc}") from exc


def _label(path: Path, line: int, value: str) -> int:
    if value not in ("0", "1"):
        raise CorpusFileError(path, line, f"label must be 0 or 1, got {value!r}")
    return int(value)


def read_corpora(data_dir: Path, *, limit_per_file: int | None = None) -> list[SourceTenant]:
    """Read the four corpus files into tenants (all tenants of the full files, tickets limited to the
    first ``limit_per_file`` records of each file; tenants may end up with no tickets)."""
    if limit_per_file is not None and limit_per_file < 0:
        raise ValueError(f"limit_per_file must be >= 0, got {limit_per_file}")
    root = _find_corpus_dir(data_dir)
    tenants: list[SourceTenant] = []

    def grouped(
        kind: str, prefix: str, slugs: dict[str, str], names: str, rows: list[tuple[int, str, SourceTicket]]
    ) -> None:
        by_cat: dict[str, SourceTenant] = {}
        for _line, cat, _t in rows:
            if cat not in by_cat:
                n = len(by_cat) + 1
                by_cat[cat] = SourceTenant(
                    len(tenants), f"{prefix}-{slugs.get(cat, str(n))}", names.format(cat), kind
                )
                tenants.append(by_cat[cat])
        for i, (_line, cat, ticket) in enumerate(rows):
            if limit_per_file is not None and i >= limit_per_file:
                break
            by_cat[cat].tickets.append(ticket)

    path = root / MEDICAL
    med: list[tuple[int, str, SourceTicket]] = []
    for line, (dept, title, ask, answer) in _read_csv(path):
        if not dept.strip():
            raise CorpusFileError(path, line, "department is empty")
        med.append((line, dept, SourceTicket(title, ask, dept, answer, None, line)))
    grouped("medical", "med", _MEDICAL_SLUGS, "医疗咨询 · {}", med)

    path = root / SHOPPING
    shop: list[tuple[int, str, SourceTicket]] = []
    for line, (cat, label, review) in _read_csv(path):
        if not cat.strip():
            raise CorpusFileError(path, line, "cat is empty")
        shop.append(
            (
                line,
                cat,
                SourceTicket(first_clause(review), review, cat, None, _label(path, line, label), line),
            )
        )
    grouped("shopping", "shop", _SHOPPING_SLUGS, "电商 · {}", shop)

    for fname, kind, slug, name, category in (
        (WAIMAI, "waimai", "waimai", "外卖平台", "外卖"),
        (HOTEL, "hotel", "hotel", "酒店预订", "酒店"),
    ):
        path = root / fname
        tenant = SourceTenant(len(tenants), slug, name, kind)
        tenants.append(tenant)
        for i, (line, (label, review)) in enumerate(_read_csv(path)):
            if limit_per_file is not None and i >= limit_per_file:
                break
            tenant.tickets.append(
                SourceTicket(first_clause(review), review, category, None, _label(path, line, label), line)
            )
    return tenants


# ------------------------------------------------------------------------------------------------ rows


@dataclass
class TenantRows:
    """All rows of one tenant, as tuples in the column order of the INSERT statements below."""

    id: int
    slug: str
    name: str
    created_at: datetime
    users: list[tuple[Any, ...]] = field(default_factory=list)
    tags: list[tuple[Any, ...]] = field(default_factory=list)
    tickets: list[tuple[Any, ...]] = field(default_factory=list)
    comments: list[tuple[Any, ...]] = field(default_factory=list)
    ticket_tags: list[tuple[Any, ...]] = field(default_factory=list)
    _tag_ids: dict[str, int] = field(default_factory=dict)

    def tag_id(self, name: str) -> int:
        tid = self._tag_ids.get(name)
        if tid is None:
            tid = self._tag_ids[name] = len(self._tag_ids) + 1
            self.tags.append((self.id, tid, name))
        return tid

    def add_tags(self, ticket_id: int, names: Sequence[str]) -> None:
        seen: set[int] = set()
        for name in names:
            tid = self.tag_id(name)
            if tid not in seen:
                seen.add(tid)
                self.ticket_tags.append((self.id, ticket_id, tid))


_SURNAMES = [
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("高", "gao"),
    ("林", "lin"),
    ("罗", "luo"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
    ("唐", "tang"),
    ("许", "xu"),
    ("韩", "han"),
    ("冯", "feng"),
    ("邓", "deng"),
    ("曹", "cao"),
    ("欧阳", "ouyang"),
    ("司马", "sima"),
]
_GIVEN = [
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀英", "xiuying"),
    ("霞", "xia"),
    ("平", "ping"),
    ("刚", "gang"),
    ("桂英", "guiying"),
    ("晓东", "xiaodong"),
    ("子涵", "zihan"),
    ("欣怡", "xinyi"),
    ("浩然", "haoran"),
    ("雨轩", "yuxuan"),
    ("思远", "siyuan"),
    ("嘉怡", "jiayi"),
    ("宇航", "yuhang"),
    ("建华", "jianhua"),
    ("文博", "wenbo"),
    ("梓萱", "zixuan"),
]
_MAIL_DOMAINS = [
    "qq.com",
    "163.com",
    "126.com",
    "gmail.com",
    "outlook.com",
    "sina.com",
    "foxmail.com",
    "hotmail.com",
    "yahoo.com.hk",
]

_STATUS = (["new", "open", "pending", "on_hold", "solved", "closed"], [8, 14, 8, 4, 30, 36])
_PRIORITY = (["low", "normal", "high", "urgent"], [20, 55, 18, 7])
_CHANNEL = (["email", "web", "phone", "chat", "api"], [25, 35, 10, 25, 5])

_PRODUCTS: dict[str, list[str]] = {
    "medical": ["图文问诊", "电话问诊", "视频问诊", "复诊开药", "检查报告解读"],
    "waimai": ["黄焖鸡米饭", "麻辣烫", "兰州拉面", "宫保鸡丁饭", "酸菜鱼", "炸鸡套餐", "奶茶", "煎饼果子"],
    "hotel": ["标准间", "大床房", "商务套房", "豪华双床房", "行政大床房"],
    "书籍": ["《活着》", "《三体》全集", "《百年孤独》", "Kindle 电子书", "儿童绘本套装"],
    "平板": ["iPad Air", "华为 MatePad 11", "小米平板 6", "平板保护套"],
    "手机": ["iPhone 15", "华为 Mate 60", "小米 14", "OPPO Reno 11", "手机钢化膜"],
    "水果": ["阳光玫瑰青提", "赣南脐橙", "海南芒果", "车厘子 JJ 级", "猕猴桃"],
    "洗发水": ["海飞丝去屑洗发水", "潘婷修护洗发露", "清扬男士洗发水", "无硅油洗发水"],
    "热水器": ["美的 60 升电热水器", "海尔燃气热水器", "A.O.史密斯热水器"],
    "蒙牛": ["蒙牛纯牛奶", "特仑苏", "蒙牛酸奶", "真果粒"],
    "衣服": ["纯棉 T 恤", "羽绒服", "牛仔裤", "连衣裙", "卫衣"],
    "计算机": ["联想 ThinkPad X1", "戴尔 XPS 13", "MacBook Air", "华硕天选", "机械键盘"],
    "酒店": ["标准间", "大床房", "家庭房"],
}
_AGENT_REPLIES = {
    0: [
        "您好，非常抱歉给您带来不好的体验，我们已记录您的反馈并转交相关部门处理。",
        "抱歉让您失望了，已为您登记售后，工作人员会在 24 小时内联系您。",
        "感谢反馈，关于您提到的问题我们已经核实，会尽快给您答复。",
        "非常抱歉！可为您办理退换货，请在订单页面提交申请。",
    ],
    1: [
        "感谢您的好评！期待再次为您服务。",
        "谢谢您的认可，我们会继续努力的！",
        "感谢支持，祝您生活愉快～",
        "收到您的好评，已转达给相关同事，谢谢！",
    ],
}
_REQUESTER_FOLLOWUPS = [
    "好的，谢谢。",
    "请尽快处理，谢谢！",
    "已经过去两天了，还没有人联系我。",
    "问题已解决，谢谢客服。",
    "收到，麻烦了。",
    "还有一个问题想咨询一下。",
]
_PATIENT_FOLLOWUPS = [
    "谢谢医生！",
    "好的，明白了，谢谢。",
    "请问需要空腹检查吗？",
    "吃了药还是不见好怎么办？",
    "需要复查吗？",
    "谢谢大夫，我去医院再看看。",
]
_PERIOD_START = datetime(2023, 1, 1)
_PERIOD_MS = int((datetime(2025, 1, 1) - _PERIOD_START).total_seconds() * 1000)


def _ms(dt: datetime, ms: int) -> datetime:
    return dt + timedelta(milliseconds=ms)


def _phone(rng: random.Random) -> str:
    digits = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    r = rng.random()
    if r < 0.1:
        return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}"
    if r < 0.2:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    return digits


def _person(rng: random.Random) -> tuple[str, str, str]:
    sur, sur_py = rng.choice(_SURNAMES)
    given, given_py = rng.choice(_GIVEN)
    return sur + given, sur_py, given_py


def _make_users(rng: random.Random, rows: TenantRows, slug: str, n_agents: int, n_requesters: int) -> None:
    base = _PERIOD_START - timedelta(days=365)
    for uid in range(1, n_agents + 1):
        name, sur, given = _person(rng)
        agent_email = f"{given}.{sur}{uid}@{slug}.support.example.com"
        created = _ms(base, rng.randrange(_PERIOD_MS // 2))
        rows.users.append(
            (rows.id, uid, "agent", name, agent_email, f"400-{rng.randrange(1000, 9999)}-{uid:03d}", created)
        )
    for uid in range(n_agents + 1, n_agents + n_requesters + 1):
        name, sur, given = _person(rng)
        r = rng.random()
        if r < 0.25:
            email: str | None = f"{rng.randrange(10000, 3_000_000_000)}@qq.com"
        elif r < 0.85:
            sep = rng.choice([".", "_", ""])
            email = f"{given}{sep}{sur}{rng.randrange(1, 9999)}@{rng.choice(_MAIL_DOMAINS)}"
        else:
            email = None
        phone = _phone(rng) if email is None or rng.random() < 0.7 else None
        created = _ms(base, rng.randrange(_PERIOD_MS))
        rows.users.append((rows.id, uid, "requester", name, email, phone, created))


def _custom_fields(rng: random.Random, products: list[str]) -> dict[str, Any] | None:
    if rng.random() < 0.35:
        return None
    fields: dict[str, Any] = {"product": rng.choice(products)}
    r = rng.random()
    if r < 0.12:
        fields["refund_amount"] = f"{rng.randrange(100, 200000) / 100:.2f}"  # exact decimal as a string
    elif r < 0.22:
        fields["refund_amount"] = rng.choice([rng.randrange(1, 2000), rng.randrange(100, 200000) / 100])
    if rng.random() < 0.08:
        fields["vip"] = True
    elif rng.random() < 0.05:
        fields["vip"] = False
    if rng.random() < 0.05:
        fields["quantity"] = rng.randrange(1, 20)
    return fields


def build_corpus_tenant(
    src: SourceTenant, tenant_id: int, slug: str, name: str, *, seed: int, copy: int
) -> TenantRows:
    """Turn one corpus tenant into rows, drawing the synthetic parts from Random((seed, copy, slug))."""
    rng = random.Random(f"{seed}:{copy}:{src.slug}")
    opened = _ms(_PERIOD_START - timedelta(days=400), rng.randrange(86_400_000))
    rows = TenantRows(tenant_id, slug, name, opened)
    n = len(src.tickets)
    n_agents = max(2, min(8, 2 + n // 2000))
    n_requesters = max(3, n // 3)
    _make_users(rng, rows, slug, n_agents, n_requesters)
    products = _PRODUCTS.get(src.kind) or _PRODUCTS.get(src.tickets[0].category if n else "", []) or ["服务"]
    created_all = sorted(rng.randrange(_PERIOD_MS) for _ in range(n))
    used_orders: set[str] = set()
    comment_id = 0
    for ticket_id, (src_t, offset) in enumerate(zip(src.tickets, created_all, strict=True), start=1):
        created = _ms(_PERIOD_START, offset)
        status = rng.choices(*_STATUS)[0]
        priority = rng.choices(*_PRIORITY)[0]
        channel = rng.choices(*_CHANNEL)[0]
        requester = rng.randint(n_agents + 1, n_agents + n_requesters)
        assignee = None if status == "new" and rng.random() < 0.7 else rng.randint(1, n_agents)
        span = 0 if status == "new" else rng.randrange(60_000, 21 * 86_400_000)
        updated = _ms(created, span)
        order = None
        if rng.random() < 0.30:
            while True:
                order = f"ORD-{created.year}-{rng.randrange(1, 1_000_000):06d}"
                if order not in used_orders:
                    used_orders.add(order)
                    break
        fields = _custom_fields(rng, products)
        rows.tickets.append(
            (
                tenant_id,
                ticket_id,
                f"T-{tenant_id}-{ticket_id:06d}",
                src_t.subject,
                src_t.description,
                status,
                priority,
                src_t.category,
                channel,
                requester,
                assignee,
                order,
                None if fields is None else json.dumps(fields, ensure_ascii=False),
                created,
                updated,
            )
        )
        # Comments: the corpus answer (medical) or a templated agent reply, sometimes a requester follow-up.
        agent = assignee if assignee is not None else rng.randint(1, n_agents)
        bodies: list[tuple[int, str, int]] = []
        if src_t.answer is not None:
            bodies.append((agent, src_t.answer, 1))
            if rng.random() < 0.2:
                bodies.append((requester, rng.choice(_PATIENT_FOLLOWUPS), 1))
        else:
            r = rng.random()
            if r >= 0.45:
                if rng.random() < 0.05:
                    bodies.append((agent, "内部备注：已转交二线处理。", 0))
                else:
                    bodies.append((agent, rng.choice(_AGENT_REPLIES[src_t.label or 0]), 1))
                if r >= 0.85:
                    bodies.append((requester, rng.choice(_REQUESTER_FOLLOWUPS), 1))
        step = max(1, span // (len(bodies) + 1)) if span else 1
        for k, (author, body, public) in enumerate(bodies, start=1):
            comment_id += 1
            at = min(updated, _ms(created, step * k)) if span else created
            rows.comments.append((tenant_id, comment_id, ticket_id, author, body, public, at))
        tags: list[str] = []
        if src_t.label is not None:
            tags.append(LABEL_TAGS[src_t.label])
        if fields is not None and fields.get("vip") is True:
            tags.append("vip")
        if priority == "urgent" and rng.random() < 0.8:
            tags.append("urgent")
        if src.kind == "medical" and rng.random() < 0.1:
            tags.append("需随访")
        rows.add_tags(ticket_id, tags)
    return rows


def tenant_slug(base: str, *, copy: int = 0, offset: int = 0) -> str:
    """``base``, ``base-c<copy+1>`` for copies after the first, ``-o<offset>`` for a non-zero offset."""
    return base + (f"-c{copy + 1}" if copy else "") + (f"-o{offset}" if offset else "")


def build_demo_tenant(tenant: demo_data.DemoTenant, tenant_id: int, *, seed: int, slug: str) -> TenantRows:
    rng = random.Random(f"{seed}:demo:{tenant.slug}")
    rows = TenantRows(tenant_id, slug, tenant.name, datetime(2023, 6, 1, 9, 0, 0))
    for u in tenant.users:
        created = _ms(datetime(2023, 6, 1), rng.randrange(180 * 86_400_000))
        rows.users.append((tenant_id, u.id, u.kind, u.name, u.email, u.phone, created))
    year_ms = 365 * 86_400_000
    starts = sorted(rng.randrange(year_ms) for _ in tenant.tickets)
    comment_id = 0
    for ticket_id, (t, offset) in enumerate(zip(tenant.tickets, starts, strict=True), start=1):
        created = _ms(datetime(2024, 1, 1), offset)
        minutes = [rng.randrange(5, 3000) for _ in t.comments]
        at = created
        comment_times = []
        for m in minutes:
            at = _ms(at, m * 60_000 + rng.randrange(1000))
            comment_times.append(at)
        updated = _ms(at, rng.randrange(1, 600_000)) if t.status != "new" else created
        fields = None if t.custom_fields is None else json.dumps(t.custom_fields, ensure_ascii=False)
        rows.tickets.append(
            (
                tenant_id,
                ticket_id,
                f"T-{tenant_id}-{ticket_id:06d}",
                t.subject,
                t.description,
                t.status,
                t.priority,
                t.category,
                t.channel,
                t.requester_id,
                t.assignee_id,
                t.order_number,
                fields,
                created,
                updated,
            )
        )
        for c, when in zip(t.comments, comment_times, strict=True):
            comment_id += 1
            rows.comments.append(
                (tenant_id, comment_id, ticket_id, c.author_id, c.body, int(c.is_public), when)
            )
        rows.add_tags(ticket_id, t.tags)
    return rows


# ------------------------------------------------------------------------------------------------ database

_INSERTS = {
    "users": "INSERT INTO users (tenant_id, id, kind, name, email, phone, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
    "tags": "INSERT INTO tags (tenant_id, id, name) VALUES (%s, %s, %s)",
    "tickets": "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description, status, priority, "
    "category, channel, requester_id, assignee_id, order_number, custom_fields, created_at, "
    "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
    "ticket_comments": "INSERT INTO ticket_comments (tenant_id, id, ticket_id, author_id, body, is_public, "
    "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
    "ticket_tags": "INSERT INTO ticket_tags (tenant_id, ticket_id, tag_id) VALUES (%s, %s, %s)",
}
# Children first: the order in which a tenant's rows are deleted.
_TENANT_TABLES = ("ticket_tags", "ticket_comments", "tickets", "tags", "users")


def _connect(settings: MySQLSettings, *, with_database: bool = True) -> pymysql.connections.Connection[Any]:
    kwargs = settings.connect_kwargs(with_database=with_database)
    kwargs["autocommit"] = False
    try:
        return pymysql.connect(**kwargs)
    except pymysql.err.OperationalError as exc:
        raise LoadError(f"cannot connect to {settings.describe()}: {exc.args[-1]}") from exc


def _split_sql(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def ensure_schema(settings: MySQLSettings) -> None:
    """Create the database (utf8mb4) if missing and apply syncer/sql/helpdesk.sql (idempotent)."""
    conn = _connect(settings, with_database=False)
    try:
        with conn.cursor() as cur:
            name = settings.database.replace("`", "``")
            cur.execute(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            cur.execute(f"USE `{name}`")
            for stmt in _split_sql(SCHEMA_SQL.read_text(encoding="utf-8")):
                cur.execute(stmt)
        conn.commit()
    finally:
        conn.close()


def tenant_ids(settings: MySQLSettings) -> list[int]:
    """Ids of all rows in the tenants table, ascending."""
    conn = _connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM tenants ORDER BY id")
            return [int(r[0]) for r in cur.fetchall()]
    finally:
        conn.close()


def _existing_rows(cur: Any, settings: MySQLSettings, ids: list[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {}
    marks = ", ".join(["%s"] * len(ids))
    for table in ("tickets", "users", "tags", "ticket_comments", "ticket_tags"):
        try:
            cur.execute(
                f"SELECT tenant_id, COUNT(*) FROM {table} WHERE tenant_id IN ({marks}) GROUP BY tenant_id",
                ids,
            )
        except pymysql.err.ProgrammingError as exc:
            raise SchemaMissingError(settings.database, table, str(exc.args[-1])) from exc
        for tid, count in cur.fetchall():
            found.setdefault(int(tid), {})[table] = int(count)
    return found


def _check_slugs(cur: Any, plan: list[TenantRows]) -> None:
    wanted = {t.slug: t.id for t in plan}
    marks = ", ".join(["%s"] * len(wanted))
    cur.execute(f"SELECT slug, id FROM tenants WHERE slug IN ({marks})", list(wanted))
    for slug, existing in cur.fetchall():
        if int(existing) != wanted[slug]:
            raise SlugConflictError(slug, int(existing), wanted[slug])


def _delete_tenant(conn: Any, cur: Any, tenant_id: int) -> None:
    for table in _TENANT_TABLES:
        while True:
            cur.execute(f"DELETE FROM {table} WHERE tenant_id = %s LIMIT {BATCH_ROWS * 5}", (tenant_id,))
            conn.commit()
            if cur.rowcount < BATCH_ROWS * 5:
                break


def _insert_batches(conn: Any, cur: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    sql = _INSERTS[table]
    for start in range(0, len(rows), BATCH_ROWS):
        cur.executemany(sql, rows[start : start + BATCH_ROWS])
        conn.commit()


def _write(
    settings: MySQLSettings,
    plan: Iterator[TenantRows] | list[TenantRows],
    ids: list[int],
    slugs_plan: list[TenantRows] | None,
    *,
    replace: bool,
    progress: Callable[[str], None] | None,
    started: float,
) -> LoadReport:
    conn = _connect(settings)
    counts = {"users": 0, "tickets": 0, "ticket_comments": 0, "tags": 0, "ticket_tags": 0}
    loaded: list[int] = []
    try:
        cur = conn.cursor()
        cur.max_stmt_length = 4 * 1024 * 1024  # multi-row INSERTs up to 4 MiB (server allows 64 MiB)
        existing = _existing_rows(cur, settings, ids) if ids else {}
        if existing and not replace:
            raise TenantsNotEmptyError(existing)
        if slugs_plan:
            _check_slugs(cur, slugs_plan)
        for tid in sorted(existing):
            _delete_tenant(conn, cur, tid)
        for rows in plan:
            cur.execute(
                "INSERT INTO tenants (id, slug, name, created_at) VALUES (%s, %s, %s, %s) "
                "ON DUPLICATE KEY UPDATE slug = VALUES(slug), name = VALUES(name)",
                (rows.id, rows.slug, rows.name, rows.created_at),
            )
            conn.commit()
            for table, data in (
                ("users", rows.users),
                ("tags", rows.tags),
                ("tickets", rows.tickets),
                ("ticket_comments", rows.comments),
                ("ticket_tags", rows.ticket_tags),
            ):
                _insert_batches(conn, cur, table, data)
                counts[table] += len(data)
            loaded.append(rows.id)
            if progress is not None:
                progress(
                    f"tenant {rows.id} {rows.slug}: {len(rows.tickets)} tickets, "
                    f"{len(rows.comments)} comments"
                )
    except pymysql.err.MySQLError as exc:
        conn.rollback()
        raise LoadError(f"loading into {settings.describe()} failed after tenants {loaded}: {exc}") from exc
    finally:
        conn.close()
    return LoadReport(
        tenants=len(loaded),
        users=counts["users"],
        tickets=counts["tickets"],
        comments=counts["ticket_comments"],
        tags=counts["tags"],
        ticket_tags=counts["ticket_tags"],
        seconds=time.monotonic() - started,
        tenant_ids=tuple(loaded),
    )


def load_corpora(
    settings: MySQLSettings,
    data_dir: Path,
    *,
    seed: int = 7,
    limit_per_file: int | None = None,
    tenant_id_offset: int = 0,
    copies: int = 1,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Load the four corpora as tenants ``tenant_id_offset + copy * N + 1 ..`` (N = tenants per copy).

    Slugs: copy k > 0 appends ``-c<k+1>`` (and names `` #<k+1>``); a non-zero offset appends ``-o<offset>``,
    so loads at different offsets never claim the same slug. Tenants without tickets (possible with a small
    ``limit_per_file``) are not created.
    """
    started = time.monotonic()
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    if tenant_id_offset < 0:
        raise ValueError(f"tenant_id_offset must be >= 0, got {tenant_id_offset}")
    sources = read_corpora(Path(data_dir), limit_per_file=limit_per_file)
    per_copy = len(sources)
    targets: list[tuple[SourceTenant, int, str, str, int]] = []
    for copy in range(copies):
        for src in sources:
            if not src.tickets:
                continue
            tid = tenant_id_offset + copy * per_copy + src.base_index + 1
            slug = tenant_slug(src.slug, copy=copy, offset=tenant_id_offset)
            name = src.name if copy == 0 else f"{src.name} #{copy + 1}"
            targets.append((src, tid, slug, name, copy))
    ids = [t[1] for t in targets]
    headers = [TenantRows(tid, slug, name, _PERIOD_START) for _s, tid, slug, name, _c in targets]

    def plan() -> Iterator[TenantRows]:  # built lazily: one tenant's rows in memory at a time
        for src, tid, slug, name, copy in targets:
            yield build_corpus_tenant(src, tid, slug, name, seed=seed, copy=copy)

    return _write(settings, plan(), ids, headers, replace=replace, progress=progress, started=started)


def load_demo(
    settings: MySQLSettings,
    *,
    seed: int = 7,
    tenant_id_offset: int = 0,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Load the project's own demo sample (syncer/demo_data.py): tenants 1 and 2 (+ offset; a non-zero
    offset appends ``-o<offset>`` to the slugs)."""
    started = time.monotonic()
    demo_data.validate()
    plan = [
        build_demo_tenant(
            t, tenant_id_offset + t.id, seed=seed, slug=tenant_slug(t.slug, offset=tenant_id_offset)
        )
        for t in demo_data.TENANTS
    ]
    return _write(
        settings, plan, [t.id for t in plan], plan, replace=replace, progress=progress, started=started
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Manual use: ``python -m syncer.load [--demo] [--limit N] [--copies N] [--offset N] [--replace]
    [DATA_DIR]``; connection settings from TICKETSEARCH_MYSQL_* (see searchcore.dbconfig)."""
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="python -m syncer.load")
    parser.add_argument("data_dir", nargs="?", default="../shared/data")
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--replace", action="store_true")
    args = parser.parse_args(argv)
    settings = MySQLSettings.from_env(os.environ)
    try:
        ensure_schema(settings)
        if args.demo:
            report = load_demo(
                settings, seed=args.seed, tenant_id_offset=args.offset, replace=args.replace, progress=print
            )
        else:
            report = load_corpora(
                settings,
                Path(args.data_dir),
                seed=args.seed,
                limit_per_file=args.limit,
                tenant_id_offset=args.offset,
                copies=args.copies,
                replace=args.replace,
                progress=print,
            )
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
