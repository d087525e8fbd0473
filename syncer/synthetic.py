"""Synthetic helpdesk rows around real text: users, statuses, priorities, channels, timestamps, order
numbers, custom fields, extra comments and tags, drawn from random.Random seeded by (seed, copy, slug).

Input: SourceTenant (real corpora) or a demo tenant. Output: TenantRows (tuples in INSERT column order).
Guarantee: deterministic for the same inputs and seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from syncer import demo_data
from syncer.corpora import LABEL_TAGS, SourceTenant


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

