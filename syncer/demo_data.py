"""The project's own small demo sample: two helpdesk tenants with realistic Chinese tickets.

Input: nothing (pure data, written for this project; not derived from the public corpora).
Output: ``TENANTS`` — an e-commerce shop and a SaaS company, 40 tickets in total, with users, comments,
tags, order numbers and custom fields. Text mixes simplified and traditional Chinese, English product
names (Apple Watch, PayPal, iPhone 15 Pro, Excel ...), full-width characters and a few emoji.
Guarantee: immutable and deterministic; ids are per-tenant sequences starting at 1 (both tenants have
ticket 1, user 1 ...); every ``requester_id``/``assignee_id``/``author_id`` refers to a user of the same
tenant (checked by ``validate()``, which the loader calls). Timestamps are not stored here: the loader
draws them from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DemoUser:
    id: int
    kind: str  # 'agent' | 'requester'
    name: str
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class DemoComment:
    author_id: int
    body: str
    is_public: bool = True


@dataclass(frozen=True)
class DemoTicket:
    subject: str
    description: str
    category: str
    status: str
    priority: str
    channel: str
    requester_id: int
    assignee_id: int | None
    order_number: str | None = None
    custom_fields: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    comments: tuple[DemoComment, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DemoTenant:
    id: int
    slug: str
    name: str
    users: tuple[DemoUser, ...]
    tickets: tuple[DemoTicket, ...]


class DemoDataError(ValueError):
    """The demo sample is inconsistent (a bug in this file)."""

    def __init__(self, tenant: str, ticket_index: int, reason: str) -> None:
        self.tenant = tenant
        self.ticket_index = ticket_index
        self.reason = reason
        super().__init__(f"demo tenant {tenant!r}, ticket #{ticket_index}: {reason}")


C = DemoComment

# ---------------------------------------------------------------------------------------------------------
# Tenant 1: 喵喵优选 — an online shop (orders, refunds, logistics, invoices).
# ---------------------------------------------------------------------------------------------------------
_SHOP_USERS = (
    DemoUser(1, "agent", "林晓雯", "xiaowen.lin@miaomiao-shop.example.com", "0571-8866 1201"),
    DemoUser(2, "agent", "赵磊", "lei.zhao@miaomiao-shop.example.com", "0571-8866 1202"),
    DemoUser(3, "agent", "Grace Chen 陳佳慧", "grace.chen@miaomiao-shop.example.com", None),
    DemoUser(4, "requester", "王芳", "wangfang1988@163.com", "13812345678"),
    DemoUser(5, "requester", "李强", "liqiang_sh@qq.com", "13988887777"),
    DemoUser(6, "requester", "陳美玲", "meiling.chan@gmail.com", "+852 9123 4567"),
    DemoUser(7, "requester", "张伟", None, "15000001111"),
    DemoUser(8, "requester", "刘洋", "liuyang@outlook.com", None),
    DemoUser(9, "requester", "黄小琴", "xiaoqin.huang@126.com", "18611112222"),
    DemoUser(10, "requester", "周杰", "zhoujie2024@foxmail.com", "17722223333"),
    DemoUser(11, "requester", "吳家豪", "kahou.ng@yahoo.com.hk", "+853 6612 3456"),
    DemoUser(12, "requester", "孙丽", "sunli@sina.com", "13566667777"),
    DemoUser(13, "requester", "Mike Zhang", "mike.zhang@example.org", "13300009999"),
)

_SHOP_TICKETS = (
    DemoTicket(
        "申请退款：Apple Watch 表带尺寸不合适",
        "上周买的 Apple Watch Series 9 运动表带，尺寸选错了，戴着太松。订单号 ORD-2024-000123，"
        "包装和吊牌都还在，想申请退款，请问运费谁承担？",
        "退款",
        "solved",
        "normal",
        "web",
        4,
        1,
        "ORD-2024-000123",
        {"product": "Apple Watch 运动表带", "refund_amount": "299.00", "vip": False},
        ("退款", "退货"),
        (
            C(1, "您好，已为您提交退货退款申请，七天无理由退货的运费由我们承担，请在 48 小时内寄回。"),
            C(4, "收到，已经寄出了，顺丰单号 SF1234567890123。"),
            C(1, "仓库已签收，退款 299.00 元将在 1-3 个工作日原路退回。"),
        ),
    ),
    DemoTicket(
        "物流三天没有更新",
        "我的快递从 3 号开始就一直显示“已到达杭州转运中心”，三天没动了😡 订单 ORD-2024-000456，"
        "着急送人的生日礼物，能帮忙催一下吗？",
        "物流",
        "open",
        "high",
        "chat",
        5,
        2,
        "ORD-2024-000456",
        {"product": "AirPods Pro 2", "vip": True},
        ("物流", "催单", "vip"),
        (C(2, "非常抱歉给您带来不便，已联系快递公司核实，预计明天派送，有进展第一时间通知您。"),),
    ),
    DemoTicket(
        "訂單還沒收到，請問物流到哪裡了？",
        "你好，我在香港下單的 iPhone 15 Pro 手機殼，訂單編號 ORD-2024-000789，已經兩個星期了還沒收到，"
        "物流資訊一直停在「清關中」。請幫我查一下，謝謝🙏",
        "物流",
        "pending",
        "normal",
        "email",
        6,
        3,
        "ORD-2024-000789",
        {"product": "iPhone 15 Pro 手機殼", "region": "HK"},
        ("物流", "跨境"),
        (
            C(3, "陳小姐您好，包裹目前在海關抽檢，一般 3-5 個工作天放行，我們會持續跟進。"),
            C(3, "内部备注：已邮件联系清关代理，等待回复。", is_public=False),
        ),
    ),
    DemoTicket(
        "发票抬头开错了，需要重开增值税专用发票",
        "公司采购的 10 台显示器，发票抬头写成了个人名字，需要重开增值税专用发票。"
        "税号：91330106MA2XXXXX0Q，订单 ORD-2024-001024。",
        "发票",
        "on_hold",
        "normal",
        "email",
        13,
        1,
        "ORD-2024-001024",
        {"product": "27 英寸 4K 显示器", "quantity": 10, "invoice_type": "增值税专用发票"},
        ("发票",),
        (C(1, "已收到，需要贵司提供开票信息确认函（盖章扫描件），收到后 3 个工作日内重开。"),),
    ),
    DemoTicket(
        "PayPal 付款成功但订单显示未支付",
        "用 PayPal 付了 USD 59.90，PayPal 那边显示 Completed，但你们网站上订单还是“待付款”。"
        "订单号 ORD-2024-001337，截图已附上。",
        "支付",
        "solved",
        "high",
        "web",
        8,
        2,
        "ORD-2024-001337",
        {"product": "Kindle Paperwhite 保护套", "payment": "PayPal", "refund_amount": 59.9},
        ("支付", "PayPal"),
        (
            C(2, "您好，PayPal 回调延迟导致状态未同步，已手动确认到账，订单已进入发货流程。"),
            C(8, "好的，谢谢👍"),
        ),
    ),
    DemoTicket(
        "收到的水果坏了一半",
        "今天收到的 5 斤装阳光玫瑰青提，打开有一半都烂了，还有股酸味，拍了照片。要求退款或者补发。",
        "售后",
        "solved",
        "normal",
        "chat",
        9,
        1,
        "ORD-2024-002048",
        {"product": "阳光玫瑰青提 5 斤装", "refund_amount": "45.00"},
        ("退款", "生鲜", "差评"),
        (C(1, "非常抱歉！已为您申请部分退款 45.00 元，无需退回商品。"),),
    ),
    DemoTicket(
        "ＶＩＰ会员积分没有到账",
        "我是ＶＩＰ会员，上个月消费满１０００元应该送２００积分，到现在积分还是０。会员号 M00012345。",
        "会员",
        "open",
        "normal",
        "phone",
        10,
        None,
        None,
        {"member_id": "M00012345", "vip": True},
        ("会员", "积分", "vip"),
        (),
    ),
    DemoTicket(
        "優惠券無法使用",
        "結帳時輸入優惠碼 SPRING2024 顯示「不符合使用條件」，可是我的訂單金額已經超過 300 元了。",
        "促销",
        "closed",
        "low",
        "web",
        11,
        3,
        None,
        {"coupon": "SPRING2024"},
        ("优惠券",),
        (C(3, "您好，此優惠券僅限美妝類商品使用，您購物車內為家電商品，故無法使用，敬請見諒。"),),
    ),
    DemoTicket(
        "扫地机器人无法连接 Wi-Fi",
        "新买的扫地机器人，按说明书操作，App 一直提示“配网失败”，家里是 5G 的 Wi-Fi。型号 X10 Pro。",
        "售后",
        "solved",
        "normal",
        "chat",
        7,
        2,
        "ORD-2024-002500",
        {"product": "扫地机器人 X10 Pro"},
        ("售后", "设备"),
        (
            C(2, "您好，该机型仅支持 2.4GHz Wi-Fi，请在路由器设置中开启 2.4G 频段后重新配网。"),
            C(7, "改成 2.4G 就连上了，谢谢"),
        ),
    ),
    DemoTicket(
        "同一个订单被扣了两次钱",
        "刚才付款的时候页面卡住了，我又点了一次，结果银行卡被扣了两次 1,299 元！订单 ORD-2024-003001，"
        "请尽快退回多扣的钱。",
        "支付",
        "pending",
        "urgent",
        "phone",
        12,
        1,
        "ORD-2024-003001",
        {"product": "戴森吹风机 HD15", "refund_amount": 1299, "vip": False},
        ("支付", "退款", "urgent"),
        (C(1, "已提交财务核实重复扣款，确认后原路退回，预计 3-5 个工作日到账。"),),
    ),
    DemoTicket(
        "想修改收货地址",
        "下单时地址写错了，应该是“上海市浦东新区张江路 88 号”，订单还没发货，能改吗？ORD-2024-003210",
        "订单",
        "solved",
        "low",
        "chat",
        4,
        3,
        "ORD-2024-003210",
        None,
        ("订单",),
        (C(3, "已为您修改收货地址，请在订单详情中确认。"),),
    ),
    DemoTicket(
        "商品与描述不符",
        "页面写的是纯棉T恤，收到的明显是化纤的，洗了一次就起球。太失望了，给差评。",
        "售后",
        "open",
        "normal",
        "web",
        5,
        1,
        "ORD-2024-003388",
        {"product": "纯棉圆领 T 恤", "refund_amount": "79.00"},
        ("差评", "退货"),
        (),
    ),
    DemoTicket(
        "请问 Apple Watch 支持几年保修？",
        "准备买 Apple Watch Ultra 2，想问一下在你们这里买是全国联保吗？保修多久？",
        "售前咨询",
        "closed",
        "low",
        "chat",
        13,
        2,
        None,
        {"product": "Apple Watch Ultra 2"},
        ("售前",),
        (C(2, "您好，本店 Apple 产品均为国行正品，享受 Apple 官方一年有限保修，支持全国联保。"),),
    ),
    DemoTicket(
        "快递员态度恶劣",
        "快递员没有送货上门，直接扔在小区门口，打电话还骂人。订单 ORD-2024-004096。",
        "物流",
        "solved",
        "high",
        "phone",
        9,
        2,
        "ORD-2024-004096",
        None,
        ("物流", "投诉"),
        (C(2, "已向快递公司投诉并要求整改，同时为您补偿 20 元无门槛优惠券。"),),
    ),
    DemoTicket(
        "电子发票在哪里下载",
        "订单已经完成了，在“我的订单”里找不到电子发票下载按钮。",
        "发票",
        "solved",
        "low",
        "web",
        10,
        3,
        "ORD-2024-004200",
        None,
        ("发票",),
        (C(3, "电子发票在订单完成后 24 小时内生成，路径：我的订单 → 订单详情 → 查看发票。"),),
    ),
    DemoTicket(
        "账号被盗，有陌生订单",
        "今天早上收到短信说有一笔订单 ORD-2024-004567 发货了，但不是我下的！收货地址是外地的，"
        "怀疑账号被盗，请马上拦截。",
        "账户安全",
        "open",
        "urgent",
        "phone",
        7,
        1,
        "ORD-2024-004567",
        {"vip": True},
        ("账户安全", "urgent", "vip"),
        (
            C(1, "已为您冻结账户并拦截该订单，请通过短信验证码重置密码。"),
            C(1, "内部备注：已提交风控组调查异地登录记录。", is_public=False),
        ),
    ),
    DemoTicket(
        "缺少配件",
        "买的小米空气净化器，包装里没有滤芯，说明书上写的是含一个滤芯的。",
        "售后",
        "new",
        "normal",
        "email",
        8,
        None,
        "ORD-2024-004800",
        {"product": "小米空气净化器 4"},
        ("售后",),
        (),
    ),
    DemoTicket(
        "退款一直没到账",
        "退款申请一周前就通过了，显示“退款成功”，但是支付宝里一直没收到 ¥158.00。",
        "退款",
        "pending",
        "high",
        "chat",
        12,
        2,
        "ORD-2024-005001",
        {"refund_amount": "158.00", "payment": "支付宝"},
        ("退款",),
        (C(2, "已查询到退款流水号 2024080812345678，请在支付宝账单中搜索该流水号。"),),
    ),
    DemoTicket(
        "Invoice needed in English for PayPal order",
        "Hi, I paid with PayPal for order ORD-2024-005120 and need an English invoice for my company "
        "reimbursement. Thanks!",
        "发票",
        "solved",
        "normal",
        "email",
        13,
        3,
        "ORD-2024-005120",
        {"payment": "PayPal", "language": "en"},
        ("发票", "PayPal"),
        (C(3, "Hi Mike, the English invoice has been sent to your email. 祝您生活愉快！"),),
    ),
    DemoTicket(
        "好评！客服很耐心",
        "之前的退货问题处理得很快，客服小林很耐心，必须给好评👍",
        "表扬",
        "closed",
        "low",
        "web",
        4,
        1,
        None,
        None,
        ("好评",),
        (),
    ),
)

# ---------------------------------------------------------------------------------------------------------
# Tenant 2: 云帆协同 — a SaaS company (login, SSO, billing, printing, integrations).
# ---------------------------------------------------------------------------------------------------------
_SAAS_USERS = (
    DemoUser(1, "agent", "郑宇航", "yuhang.zheng@yunfan-saas.example.com", "400-820-1234"),
    DemoUser(2, "agent", "何静", "jing.he@yunfan-saas.example.com", None),
    DemoUser(3, "agent", "Kevin Wu", "kevin.wu@yunfan-saas.example.com", None),
    DemoUser(4, "requester", "杨帆（行政部）", "yangfan@acme-trading.cn", "13700001234"),
    DemoUser(5, "requester", "徐敏", "xumin@huaxin-tech.com", "13911112222"),
    DemoUser(6, "requester", "蔡志明", "chihming.tsai@formosa-ic.com.tw", "+886 912 345 678"),
    DemoUser(7, "requester", "马超", "machao@dragonlogistics.cn", "18800001111"),
    DemoUser(8, "requester", "朱婷", "zhuting@bluesky-edu.org", None),
    DemoUser(9, "requester", "IT 管理员 胡斌", "it-admin@jinshan-mfg.com", "021-6543 2100"),
    DemoUser(10, "requester", "郭晓东", "xiaodong.guo@qq.com", "15212345678"),
    DemoUser(11, "requester", "Linda Wang", "linda.wang@globalcorp.com", "+1 415 555 0199"),
)

_SAAS_TICKETS = (
    DemoTicket(
        "打印机卡纸，打印发票时一直报错",
        "用你们的云打印打发票，打印机（HP LaserJet Pro M404）每打两张就卡纸，系统提示“打印任务失败 E-1024”。"
        "已经清理过纸盒了，还是不行。",
        "打印",
        "open",
        "high",
        "phone",
        4,
        1,
        None,
        {"product": "云帆云打印", "printer": "HP LaserJet Pro M404", "error_code": "E-1024"},
        ("打印机", "发票"),
        (
            C(1, "您好，请先将驱动升级到 v3.2.1，并在打印设置中把纸张类型改为“普通纸 70-80g”。"),
            C(4, "升级驱动后卡纸少了，但还是偶尔报 E-1024。"),
        ),
    ),
    DemoTicket(
        "无法登录，提示密码错误",
        "今天早上开始无法登录，提示“用户名或密码错误”，可我密码没改过。重置密码的邮件也收不到。",
        "账号",
        "solved",
        "urgent",
        "chat",
        5,
        2,
        None,
        {"product": "云帆协同 企业版", "seats": 200, "vip": True},
        ("无法登录", "vip", "urgent"),
        (
            C(2, "您好，您的账号因连续 5 次输错密码被临时锁定，已为您解锁，重置邮件已重新发送。"),
            C(5, "可以登录了，谢谢！"),
        ),
    ),
    DemoTicket(
        "無法登入，SSO 跳轉後白屏",
        "我們公司使用 Azure AD 做 SSO，點擊「企業登入」後跳轉回來就是白屏，Chrome 和 Edge 都一樣。"
        "控制台錯誤：invalid_state。",
        "账号",
        "pending",
        "high",
        "email",
        6,
        3,
        None,
        {"product": "云帆协同 企业版", "sso": "Azure AD", "browser": "Chrome 124"},
        ("无法登录", "SSO"),
        (C(3, "蔡先生您好，請確認 Azure AD 應用的回調地址是否為 https://sso.yunfan.example.com/callback。"),),
    ),
    DemoTicket(
        "发票申请：2024 年第二季度服务费",
        "请开具 2024 年 Q2 的服务费发票，金额 ¥36,000.00，增值税专用发票，抬头“龙腾物流有限公司”。",
        "发票",
        "solved",
        "normal",
        "email",
        7,
        1,
        "ORD-2024-010001",
        {"amount": "36000.00", "invoice_type": "增值税专用发票"},
        ("发票", "账单"),
        (C(1, "发票已开具并邮寄，快递单号 YT9876543210。"),),
    ),
    DemoTicket(
        "导出 Excel 乱码",
        "把工单列表导出成 Excel，打开后中文全部是乱码，比如“宸ュ崟”这种。用的是 Microsoft Excel 2016。",
        "功能问题",
        "solved",
        "normal",
        "web",
        8,
        2,
        None,
        {"product": "云帆协同 标准版", "app": "Excel 2016"},
        ("导出", "Excel"),
        (
            C(
                2,
                "Excel 2016 默认按 GBK 打开 CSV，请在导出时选择“xlsx”格式，或用“数据→从文本”导入并选 UTF-8。",
            ),
        ),
    ),
    DemoTicket(
        "API 调用返回 429 Too Many Requests",
        "我们的 ERP 通过 API 同步工单，每分钟大约 300 次调用，从昨天开始频繁返回 429，"
        "接口文档里没写限流规则。",
        "API",
        "on_hold",
        "high",
        "api",
        9,
        3,
        None,
        {"product": "开放平台 API", "rate_per_min": 300},
        ("API", "限流"),
        (
            C(3, "默认限流为每分钟 120 次，企业版可申请提高到 600 次，已为您提交申请。"),
            C(3, "内部备注：等待平台组审批配额。", is_public=False),
        ),
    ),
    DemoTicket(
        "续费后仍提示账号已过期",
        "昨天用 PayPal 续费了一年（USD 1,200），今天登录还是提示“您的订阅已过期”。",
        "账单",
        "solved",
        "urgent",
        "chat",
        11,
        1,
        "ORD-2024-010042",
        {"payment": "PayPal", "refund_amount": 0, "vip": True},
        ("账单", "PayPal", "vip"),
        (C(1, "已确认到账并手动延长订阅至 2025-08-31，给您带来不便非常抱歉。"),),
    ),
    DemoTicket(
        "手机 App 收不到推送通知",
        "iPhone 上的云帆 App 收不到新工单推送，设置里通知已经打开了。iOS 17.5。",
        "功能问题",
        "open",
        "normal",
        "web",
        10,
        2,
        None,
        {"product": "云帆 App", "os": "iOS 17.5"},
        ("App", "通知"),
        (),
    ),
    DemoTicket(
        "申请退款：误购了 50 个席位",
        "管理员误操作多购买了 50 个席位，想申请退款，订单号 ORD-2024-010077。",
        "账单",
        "pending",
        "normal",
        "email",
        4,
        1,
        "ORD-2024-010077",
        {"seats": 50, "refund_amount": "7500.00"},
        ("退款", "账单"),
        (C(1, "已收到申请，按未使用天数折算退款，财务审核后回复您。"),),
    ),
    DemoTicket(
        "希望增加深色模式",
        "晚上值班看屏幕很刺眼，希望网页版能增加深色模式 🌙",
        "功能建议",
        "new",
        "low",
        "web",
        8,
        None,
        None,
        None,
        ("功能建议",),
        (),
    ),
    DemoTicket(
        "邮件通知全部进了垃圾箱",
        "客户回复工单的邮件通知全部进了 Outlook 的垃圾邮件文件夹，客户也反映收到的回复在垃圾箱里。",
        "邮件",
        "solved",
        "high",
        "email",
        9,
        3,
        None,
        {"mail_client": "Outlook"},
        ("邮件",),
        (C(3, "请在贵司域名 DNS 中添加我们的 SPF 与 DKIM 记录，配置说明已发至您的邮箱。"),),
    ),
    DemoTicket(
        "打印模板里的二维码打印不清楚",
        "快递面单模板里的二维码打印出来很模糊，扫不出来，打印机是斑马 ZD888。",
        "打印",
        "solved",
        "normal",
        "phone",
        7,
        1,
        None,
        {"printer": "Zebra ZD888"},
        ("打印机",),
        (C(1, "请在模板设置中将打印分辨率改为 203 dpi，并关闭“省墨模式”。"),),
    ),
    DemoTicket(
        "帳單金額與合約不符",
        "本月帳單顯示 NT$ 48,000，但合約約定的是 NT$ 42,000，請協助確認。",
        "账单",
        "open",
        "normal",
        "email",
        6,
        2,
        "ORD-2024-010120",
        {"currency": "TWD", "amount": 48000},
        ("账单",),
        (),
    ),
    DemoTicket(
        "Cannot log in after enabling 2FA",
        "After enabling two-factor authentication, the 6-digit code from Google Authenticator is always "
        "rejected. 手机时间是自动同步的。",
        "账号",
        "solved",
        "high",
        "chat",
        11,
        3,
        None,
        {"product": "云帆协同 企业版", "2fa": "TOTP"},
        ("无法登录", "2FA"),
        (
            C(
                3,
                "Please check the time zone of your account profile; "
                "we found it set to UTC-8 instead of UTC+8.",
            ),
            C(11, "That was it, thanks!"),
        ),
    ),
    DemoTicket(
        "数据导入失败：第 1024 行格式错误",
        "导入客户名单时提示“第 1024 行：手机号格式错误”，但那一行是 +86 138 0013 8000，格式没问题啊。",
        "功能问题",
        "solved",
        "normal",
        "web",
        10,
        2,
        None,
        None,
        ("导入",),
        (C(2, "导入模板要求手机号不带空格，请改为 +8613800138000 后重新导入。"),),
    ),
    DemoTicket(
        "系统很慢，打开工单要 10 秒",
        "从周一开始打开任何一张工单都要 10 秒左右，全公司都这样，严重影响工作。",
        "性能",
        "solved",
        "urgent",
        "phone",
        5,
        1,
        None,
        {"vip": True, "seats": 200},
        ("性能", "urgent", "vip"),
        (
            C(1, "已定位为华东节点数据库负载过高，扩容后恢复正常，非常抱歉。"),
            C(5, "现在快多了 👍"),
        ),
    ),
    DemoTicket(
        "怎么把工单批量转给其他同事",
        "同事离职了，他名下有 300 多张未完成的工单，怎么批量转给其他人？",
        "使用咨询",
        "closed",
        "low",
        "chat",
        4,
        2,
        None,
        None,
        ("使用咨询",),
        (C(2, "在工单列表中筛选负责人 → 全选 → 批量操作 → 更改负责人即可。"),),
    ),
    DemoTicket(
        "发票抬头需要加上英文名",
        "我们是外资企业，发票抬头需要中英文：环球企业管理（上海）有限公司 GlobalCorp Shanghai Ltd.",
        "发票",
        "new",
        "low",
        "email",
        11,
        None,
        None,
        None,
        ("发票",),
        (),
    ),
    DemoTicket(
        "企业微信集成后消息重复",
        "接入企业微信后，每条工单更新都会收到两条一模一样的消息。",
        "集成",
        "open",
        "normal",
        "web",
        9,
        3,
        None,
        {"integration": "企业微信"},
        ("集成",),
        (C(3, "请检查是否同时配置了“机器人”与“应用消息”两种推送方式，保留一种即可。"),),
    ),
    DemoTicket(
        "账号被停用，无法登录后台",
        "管理员账号突然显示“账号已停用”，无法登录后台，公司 50 人都在等着用。",
        "账号",
        "solved",
        "urgent",
        "phone",
        8,
        1,
        None,
        {"vip": False},
        ("无法登录", "urgent"),
        (C(1, "因发票逾期未付触发自动停用，财务确认付款后已恢复。"),),
    ),
)

TENANTS: tuple[DemoTenant, ...] = (
    DemoTenant(1, "miaomiao-shop", "喵喵优选商城", _SHOP_USERS, _SHOP_TICKETS),
    DemoTenant(2, "yunfan-saas", "云帆协同 CloudSail", _SAAS_USERS, _SAAS_TICKETS),
)

_STATUSES = {"new", "open", "pending", "on_hold", "solved", "closed"}
_PRIORITIES = {"low", "normal", "high", "urgent"}
_CHANNELS = {"email", "web", "phone", "chat", "api"}


def validate(tenants: tuple[DemoTenant, ...] = TENANTS) -> None:
    """Raise DemoDataError if an enum value or a user reference is wrong."""
    for tenant in tenants:
        kinds = {u.id: u.kind for u in tenant.users}
        for i, t in enumerate(tenant.tickets, start=1):
            if t.status not in _STATUSES or t.priority not in _PRIORITIES or t.channel not in _CHANNELS:
                raise DemoDataError(tenant.slug, i, f"bad enum value in {t.status}/{t.priority}/{t.channel}")
            if kinds.get(t.requester_id) != "requester":
                raise DemoDataError(tenant.slug, i, f"requester_id {t.requester_id} is not a requester")
            if t.assignee_id is not None and kinds.get(t.assignee_id) != "agent":
                raise DemoDataError(tenant.slug, i, f"assignee_id {t.assignee_id} is not an agent")
            for c in t.comments:
                if c.author_id not in kinds:
                    raise DemoDataError(tenant.slug, i, f"comment author {c.author_id} is not a user")
