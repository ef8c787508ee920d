"""The demo register's districts and name pools, shared by the register generator (:mod:`engine.pipeline.demo`)
and the plan stage's inspector directory (:mod:`engine.pipeline.demo_plan`), and the names of its entities
(:class:`NameMaker`, also used by bench/match_bench.py for rows of entities the register does not hold)."""

from __future__ import annotations

import random
from typing import Any

from engine.register.names import parse_name

# Region code -> (district name, city short form used in document numbers, city name).
REGIONS = {
    "350502": ("鲤城区", "泉", "泉州"),
    "350503": ("丰泽区", "泉", "泉州"),
    "350504": ("洛江区", "泉", "泉州"),
    "350505": ("泉港区", "泉", "泉州"),
    "350521": ("惠安县", "泉", "泉州"),
    "350524": ("安溪县", "泉", "泉州"),
    "350526": ("德化县", "泉", "泉州"),
    "350581": ("石狮市", "泉", "泉州"),
    "350582": ("晋江市", "泉", "泉州"),
    "350583": ("南安市", "泉", "泉州"),
    "350102": ("鼓楼区", "榕", "福州"),
    "350103": ("台江区", "榕", "福州"),
    "350104": ("仓山区", "榕", "福州"),
    "350111": ("晋安区", "榕", "福州"),
    "350203": ("思明区", "厦", "厦门"),
    "350205": ("海沧区", "厦", "厦门"),
    "350206": ("湖里区", "厦", "厦门"),
}

SURNAMES = "陈林黄张李王吴刘蔡杨郑许洪苏庄施谢曾郭何周徐叶朱高傅卢方潘邱江余胡颜戴柯"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志峰辉鑫荣斌婷雪晓文俊毅宏福清泉金水"

# Characters of 字号 as firms use them (auspicious, trade and loan-word sound characters): a 字号 is two to four
# of them, so a city's 字号 are mostly its own, as the 企业名称登记管理规定 wants; the demo still keeps some honest
# collisions (the same 字号 in another district, a branch sharing its company's 字号).
TRADE_CHARS = "".join(
    dict.fromkeys(
        "鑫源恒达盛华泰丰隆宏兴茂佳润顺安嘉宇联创信诚德成发瑞祥利通汇聚晟博远鸿海天新金银铭凯旭东升昌永富贵和美"
        "伟志建立正众合力同心星月光明辉煌耀阳春秋松柏梅兰竹菊龙凤麟鹰鹏雁燕鹤江河湖峰岭岩森禾田园稻穗谷福寿康宁"
        "平吉庆喜乐欣悦怡雅致尚品优精良卓越超群领航锋前沿智慧科云帆启扬腾飞跃奔骏驰骋捷迅畅宝珍珠玉翠钻晶莹璀"
        "璨彩锦绣丝绸冠鼎旺荣丽亿万千佰仟诺亚奥迪维斯特尔克罗莱恩普赛思埃菲伦蓝绿紫青红白黑橙晨曦朝霞露雨雪霜"
        "风雷电霖泽润涛澜波浪洋湾港岛屿泓沁淳清洁澄浩瀚渊深广阔弘扬展鹄鸣翔翼羽凌霄汉宸轩阁楼台亭苑庭府邦国"
        "家乡邻友朋伴侣佑护卫盾甲钧铸锐钢铁铜锡铂铠镇磊垒基础柱梁桥架构筑筠笙箫琴瑟琪琳琦瑜璞琛瑾璟珑玲珊瑚"
        "蓓蕾芬芳菲蔓茵荟萃蕴藏储备丞承继绍续延恒久长远谦逊仁义礼智信忠孝廉勤朴实拓垦耕耘播种收获硕果"
    )
)
TRADE_LENGTHS = (2, 3, 4)
TRADE_LENGTH_WEIGHTS = (70, 24, 6)

# Name word -> industry (GB/T 4754 section).
ENTERPRISE_LINES = [
    ("贸易", "批发和零售业"),
    ("进出口", "批发和零售业"),
    ("鞋业", "制造业"),
    ("鞋服", "制造业"),
    ("纺织", "制造业"),
    ("服装", "制造业"),
    ("服饰", "制造业"),
    ("食品", "制造业"),
    ("建材", "批发和零售业"),
    ("电子科技", "信息传输、软件和信息技术服务业"),
    ("网络科技", "信息传输、软件和信息技术服务业"),
    ("信息技术", "信息传输、软件和信息技术服务业"),
    ("电子商务", "批发和零售业"),
    ("餐饮管理", "住宿和餐饮业"),
    ("酒店管理", "住宿和餐饮业"),
    ("茶业", "农、林、牧、渔业"),
    ("陶瓷", "制造业"),
    ("石材", "制造业"),
    ("工艺品", "制造业"),
    ("塑胶制品", "制造业"),
    ("五金机电", "批发和零售业"),
    ("物流", "交通运输、仓储和邮政业"),
    ("供应链管理", "交通运输、仓储和邮政业"),
    ("医药", "批发和零售业"),
    ("建筑工程", "建筑业"),
    ("装饰工程", "建筑业"),
    ("房地产开发", "房地产业"),
    ("机械", "制造业"),
    ("包装材料", "制造业"),
    ("新能源科技", "科学研究和技术服务业"),
    ("环保科技", "科学研究和技术服务业"),
    ("生物科技", "科学研究和技术服务业"),
    ("商务咨询", "租赁和商务服务业"),
    ("企业管理", "租赁和商务服务业"),
    ("文化传媒", "文化、体育和娱乐业"),
    ("汽车销售服务", "批发和零售业"),
]
SHOP_LINES = [
    ("小吃店", "住宿和餐饮业"),
    ("便利店", "批发和零售业"),
    ("五金店", "批发和零售业"),
    ("服装店", "批发和零售业"),
    ("茶叶店", "批发和零售业"),
    ("水果店", "批发和零售业"),
    ("理发店", "居民服务、修理和其他服务业"),
    ("汽车修理部", "居民服务、修理和其他服务业"),
    ("面馆", "住宿和餐饮业"),
    ("海鲜排档", "住宿和餐饮业"),
    ("超市", "批发和零售业"),
    ("商行", "批发和零售业"),
    ("经营部", "批发和零售业"),
    ("门市部", "批发和零售业"),
]
COOP_LINES = [
    ("茶叶", "农、林、牧、渔业"),
    ("果蔬", "农、林、牧、渔业"),
    ("水产养殖", "农、林、牧、渔业"),
    ("生猪养殖", "农、林、牧、渔业"),
]
SOCIAL_LINES = {
    "51": [("{city}市{trade}行业协会", "社会组织"), ("{city}市{trade}商会", "社会组织")],
    "52": [
        ("{district}{name}培训学校", "教育"),
        ("{district}{name}养老院", "卫生和社会工作"),
        ("{district}{name}幼儿园", "教育"),
    ],
}
# Shares of the honest collisions the register keeps.
SHARED_TRADE = 0.03  # a company with the 字号 of one in another district of its city (another industry)
BRANCH = 0.02  # a 分公司 of a company of its city, in another district
SHARED_SHOP = 0.04  # a shop with the 字号 and line of one in another district


def short_district(district: str) -> str:
    """丰泽区 -> 丰泽, 晋江市 -> 晋江."""
    return district[:-1] if len(district) > 2 and district[-1] in "区县市" else district


class NameMaker:
    """The names of the demo register's entities, from their own seeded stream: 字号 drawn from
    :data:`TRADE_CHARS` unique within their scope (a city for companies, a district for shops, cooperatives and
    schools), every name checked to parse back to its 字号 (:func:`engine.register.names.parse_name`), and the
    collisions of :data:`SHARED_TRADE`, :data:`BRANCH` and :data:`SHARED_SHOP`."""

    def __init__(self, seed: int):
        self.rng = random.Random(f"demo-names-{seed}")
        self.used: set[tuple[str, str]] = set()  # (scope, 字号)
        self.names: set[str] = set()
        self.companies: dict[
            str, list[tuple[str, str, str, str, str]]
        ] = {}  # city -> (name, region, 字号, line, industry)
        self.shops: dict[str, list[tuple[str, str, str, str]]] = {}  # city -> (region, 字号, line, industry)

    def trade(self, scope: str, fits: Any = None) -> str:
        """A 字号 not used in ``scope`` (``fits``: a test the name built of it must pass)."""
        rng = self.rng
        while True:
            n = rng.choices(TRADE_LENGTHS, TRADE_LENGTH_WEIGHTS)[0]
            trade = "".join(rng.choice(TRADE_CHARS) for _ in range(n))
            if len(set(trade)) == n and (scope, trade) not in self.used and (fits is None or fits(trade)):
                self.used.add((scope, trade))
                return trade

    def _other(self, earlier: list[Any], region: str, at: int = 0) -> Any:
        """One of ``earlier`` (drawn) whose region (item ``at``) is not ``region``, or None."""
        for _ in range(5 if earlier else 0):
            pick = self.rng.choice(earlier)
            if pick[at] != region:
                return pick
        return None

    def _take(self, name: str, trade: str) -> bool:
        if name in self.names or parse_name(name).trade != trade:
            return False
        self.names.add(name)
        return True

    def name(self, dept_type: str, region: str, legal_rep: str) -> tuple[str, str]:
        """(name, industry) of an entity of this USCC type (91, 92, 93, 51, 52) registered in ``region``."""
        rng = self.rng
        district, _, city = REGIONS[region]
        if dept_type == "91":
            return self._company(region, district, city)
        if dept_type == "92":
            line, industry = rng.choice(SHOP_LINES)
            other = self._other(self.shops.get(city, []), region) if rng.random() < SHARED_SHOP else None
            if other:
                _, trade, line, industry = other
                if (region, trade) not in self.used and self._take(f"{district}{trade}{line}", trade):
                    self.used.add((region, trade))
                    return f"{district}{trade}{line}", industry
            roll = rng.random()
            for trade in (legal_rep[0] + "记", "阿" + legal_rep[-1]) if roll < 0.2 else ():
                if (region, trade) not in self.used and self._take(f"{district}{trade}{line}", trade):
                    self.used.add((region, trade))
                    break
            else:
                trade = self.trade(region, lambda t: self._take(f"{district}{t}{line}", t))
            self.shops.setdefault(city, []).append((region, trade, line, industry))
            return f"{district}{trade}{line}", industry
        if dept_type == "93":
            line, industry = rng.choice(COOP_LINES)
            trade = self.trade(region, lambda t: self._take(f"{district}{t}{line}专业合作社", t))
            return f"{district}{trade}{line}专业合作社", industry
        pattern, industry = rng.choice(SOCIAL_LINES[dept_type])
        word = rng.choice(ENTERPRISE_LINES)[0]
        name = pattern.format(city=city, district=district, trade=word, name="{name}")
        if dept_type == "51" and "{name}" not in name and name not in self.names:
            self.names.add(name)
            return name, industry
        if "{name}" not in name:  # a second association of the trade in the city: named by its own 字号
            name = f"{city}市{{name}}{word}商会"
        trade = self.trade(region if dept_type == "52" else city, lambda t: self._take(name.format(name=t), t))
        return name.format(name=trade), industry

    def _company(self, region: str, district: str, city: str) -> tuple[str, str]:
        rng = self.rng
        companies = self.companies.get(city, [])
        roll = rng.random()
        other = self._other(companies, region, 1) if roll < BRANCH + SHARED_TRADE else None
        if other and roll < BRANCH:
            parent, _, trade, line, industry = other
            name = f"{parent}{short_district(district)}分公司"
            if self._take(name, trade):
                return name, industry
        line, industry = rng.choice(ENTERPRISE_LINES)
        prefix = rng.choices((f"{city}市", f"福建{city}", f"福建省{city}市", district, ""), (60, 12, 8, 14, 6))[0]
        suffix = rng.choices(["有限公司", "有限责任公司", "股份有限公司"], [85, 12, 3])[0]

        def build(t: str) -> str:
            return f"{t}（{city}）{line}{suffix}" if not prefix else f"{prefix}{t}{line}{suffix}"

        trade = ""
        if other:
            _, _, shared, their_line, _ = other
            if their_line != line and (city, shared) in self.used and self._take(build(shared), shared):
                trade = shared
        if not trade:
            trade = self.trade(city, lambda t: self._take(build(t), t))
        name = build(trade)
        self.companies.setdefault(city, []).append((name, region, trade, line, industry))
        return name, industry
